import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rotation, type LinkStatus } from './rotation.ts';

const up = (): LinkStatus => 'up';

test('a connector whose link keeps failing is taken out of rotation, then probed, then taken back', () => {
  const rotation = new Rotation({ failureThreshold: 3, openMs: 1000, maxOpenMs: 4000 });
  let now = 0;
  const pick = () => rotation.pick(['a', 'b'], up, now);
  assert.deepEqual(pick(), { connectorId: 'a' });
  rotation.failure('a', 'operator_unavailable: bind lost', now);
  rotation.failure('a', 'operator_unavailable: bind lost', now);
  assert.deepEqual(pick(), { connectorId: 'a' }, 'two failures are not enough');
  rotation.failure('a', 'operator_unavailable: bind lost', now);
  assert.equal(rotation.circuit('a', now).status, 'open');
  assert.equal(rotation.circuit('a', now).until, 1000);
  assert.deepEqual(pick(), { connectorId: 'b' }, 'traffic fails over while the circuit is open');

  now = 1000;
  assert.deepEqual(pick(), { connectorId: 'a' }, 'one probe goes through when the open time is over');
  assert.equal(rotation.circuit('a', now).status, 'half_open');
  assert.deepEqual(pick(), { connectorId: 'b' }, 'only one probe at a time');
  rotation.failure('a', 'operator_unavailable: still down', now);
  assert.equal(rotation.circuit('a', now).status, 'open');
  assert.equal(rotation.circuit('a', now).until, 3000, 'a failed probe opens it for twice as long');

  now = 3000;
  assert.deepEqual(pick(), { connectorId: 'a' });
  rotation.success('a', now);
  assert.equal(rotation.circuit('a', now).status, 'closed');
  assert.deepEqual(pick(), { connectorId: 'a' });
});

test('the open time doubles up to its maximum and starts again after a success', () => {
  const rotation = new Rotation({ failureThreshold: 1, openMs: 1000, maxOpenMs: 2500 });
  let now = 0;
  rotation.failure('a', 'x', now);
  for (const expected of [2000, 2500, 2500]) {
    now = rotation.circuit('a', now).until!;
    assert.deepEqual(rotation.pick(['a'], up, now), { connectorId: 'a' });
    rotation.failure('a', 'x', now);
    assert.equal(rotation.circuit('a', now).until! - now, expected);
  }
  now = rotation.circuit('a', now).until!;
  rotation.pick(['a'], up, now);
  rotation.success('a', now);
  rotation.failure('a', 'x', now);
  assert.equal(rotation.circuit('a', now).until! - now, 1000);
});

test('switched-off, unloaded and open connectors are skipped; a down one is the last resort; none left says why', () => {
  const rotation = new Rotation({ failureThreshold: 1, openMs: 60_000 });
  const links: Record<string, LinkStatus> = { off: 'up', down: 'down', open: 'up', fine: 'up' };
  const link = (id: string) => links[id];
  rotation.setDisabled(['off']);
  rotation.failure('open', 'operator_error: system error', 0);
  assert.deepEqual(rotation.pick(['off', 'ghost', 'down', 'open', 'fine'], link, 0), { connectorId: 'fine' });
  assert.deepEqual(rotation.pick(['off', 'ghost', 'down', 'open'], link, 0), { connectorId: 'down' });
  const blocked = rotation.pick(['off', 'ghost', 'open'], link, 0);
  assert.ok('blocked' in blocked);
  assert.match(blocked.blocked, /off is switched off; ghost is not loaded; open's circuit is open until .* \(operator_error: system error\)/);
  assert.equal(rotation.isEnabled('off'), false);
  rotation.setDisabled([]);
  assert.deepEqual(rotation.pick(['off'], link, 0), { connectorId: 'off' });
});
