import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConnectorView } from '../pipeline/delivery.ts';
import { ConnectorStatusBoard, mergeConnectorViews, type NodeReport } from './connector-status.ts';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';

const closed = { status: 'closed' as const, reason: null, since: 1, until: null, consecutiveFailures: 0 };
const view = (id: string, status: ConnectorView['status'], up: number, total: number, extra: Partial<ConnectorView> = {}): ConnectorView => ({
  id,
  type: 'smpp',
  status,
  detail: null,
  since: 100,
  links: { up, total },
  inFlight: 0,
  enabled: true,
  circuit: closed,
  ...extra,
});
const known = [{ id: 'operator', type: 'smpp', enabled: true }];
const merge = (...reports: NodeReport[]) => mergeConnectorViews(known, reports, 5000)[0]!;

test('links and requests in flight are summed over the workers; every holder up is up; nodes are listed by id', () => {
  const m = merge(
    { node: 'w2', connectors: [view('operator', 'up', 1, 1, { inFlight: 3, since: 200 })] },
    { node: 'w1', connectors: [view('operator', 'up', 2, 2, { inFlight: 4 })] },
    // A worker holding none of the binds: up with 0 of 0, not counted for the status.
    { node: 'w3', connectors: [view('operator', 'up', 0, 0, { detail: 'binds on other nodes: none of the 4 here' })] },
  );
  assert.equal(m.status, 'up');
  assert.equal(m.detail, null);
  assert.deepEqual(m.links, { up: 3, total: 3 });
  assert.equal(m.inFlight, 7);
  assert.equal(m.since, 200);
  assert.deepEqual(
    m.nodes?.map((n) => [n.node, n.status, n.links.up, n.links.total]),
    [
      ['w1', 'up', 2, 2],
      ['w2', 'up', 1, 1],
      ['w3', 'up', 0, 0],
    ],
  );
});

test('one holder up and one down is degraded, with the troubled node in detail; none up: down over connecting', () => {
  const degraded = merge(
    { node: 'w1', connectors: [view('operator', 'up', 2, 2)] },
    { node: 'w2', connectors: [view('operator', 'down', 0, 2, { detail: 'bind refused: 0x0000000E invalid password' })] },
  );
  assert.equal(degraded.status, 'degraded');
  assert.equal(degraded.detail, 'w2: bind refused: 0x0000000E invalid password');
  assert.deepEqual(degraded.links, { up: 2, total: 4 });
  const down = merge(
    { node: 'w1', connectors: [view('operator', 'connecting', 0, 2)] },
    { node: 'w2', connectors: [view('operator', 'down', 0, 2, { detail: 'connection lost (closed)' })] },
  );
  assert.equal(down.status, 'down');
  assert.equal(down.detail, 'w2: connection lost (closed)');
  assert.equal(merge({ node: 'w1', connectors: [view('operator', 'connecting', 0, 2)] }).status, 'connecting');
});

test('no worker holding a link is connecting; no worker reporting it is down with no links', () => {
  const unheld = merge({ node: 'w1', connectors: [view('operator', 'up', 0, 0)] }, { node: 'w2', connectors: [view('operator', 'up', 0, 0)] });
  assert.equal(unheld.status, 'connecting');
  assert.deepEqual(unheld.links, { up: 0, total: 0 });
  const none = merge({ node: 'w1', connectors: [view('other', 'up', 1, 1)] });
  assert.equal(none.status, 'down');
  assert.equal(none.detail, 'no live worker node runs it');
  assert.deepEqual(none.links, { up: 0, total: 0 });
  assert.deepEqual(none.nodes, []);
  assert.equal(none.circuit.status, 'closed');
});

test('the circuit is the least open of the workers\'; enabled is the answering node\'s', () => {
  const open = { status: 'open' as const, reason: 'operator_unavailable', since: 2, until: 9, consecutiveFailures: 5 };
  const half = { ...open, status: 'half_open' as const };
  const m = mergeConnectorViews(
    [{ id: 'operator', type: 'smpp', enabled: false }],
    [
      { node: 'w1', connectors: [view('operator', 'up', 1, 1, { circuit: open })] },
      { node: 'w2', connectors: [view('operator', 'up', 1, 1, { circuit: half })] },
    ],
    5000,
  )[0]!;
  assert.equal(m.circuit.status, 'half_open');
  assert.equal(m.enabled, false);
  assert.deepEqual(m.nodes?.map((n) => n.circuit), ['open', 'half_open']);
});

test('the board keeps since while the merged status holds, and moves it when it changes', () => {
  const quiet = { warn() {} } as unknown as Logger;
  const board = new ConnectorStatusBoard({} as Redis, 'p', quiet, { ttlMs: 1000, nodeId: 'api' });
  const start = Date.now();
  // Known for less than half a TTL and not reported yet: connecting.
  const first = board.view(known, start)[0]!;
  assert.deepEqual([first.status, first.detail], ['connecting', "waiting for the workers' reports"]);
  const again = board.view(known, start + 100)[0]!;
  assert.equal(again.since, first.since, 'unchanged status, unchanged since');
  const down = board.view(known, start + 600)[0]!;
  assert.deepEqual([down.status, down.detail, down.since], ['down', 'no live worker node runs it', start + 600]);
  assert.equal(board.view(known, start + 900)[0]!.since, start + 600);
  // Reports older than a TTL (Redis silent): still down, now with why.
  const stale = board.view(known, start + 5000)[0]!;
  assert.equal(stale.status, 'down');
  assert.match(stale.detail!, /Redis does not answer/);
});
