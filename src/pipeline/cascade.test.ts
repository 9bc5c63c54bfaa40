import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { conditionMet, decideOnChild, decideOnTimer } from './cascade.ts';

/** The cascade's decisions on their own: what each change of a step's message, and each timeout, does. */
const steps = [{ until: 'delivered' as const }, { until: 'read' as const }, { until: 'delivered' as const }];
const running = (step: number) => ({ status: 'running', step, decided_step: null });

describe('cascade decisions', () => {
  test('conditions: delivered counts read too; read needs read', () => {
    assert.deepEqual([conditionMet('delivered', 'delivered'), conditionMet('delivered', 'read'), conditionMet('read', 'delivered'), conditionMet('read', 'read'), conditionMet('delivered', 'sent')], [true, true, false, true, false]);
  });

  test('a step taken or sent moves the parent on; its condition met ends the cascade there', () => {
    assert.deepEqual(decideOnChild(running(1), steps, 1, 'queued', null), { kind: 'progress', status: 'queued' });
    assert.deepEqual(decideOnChild(running(1), steps, 1, 'sent', null), { kind: 'progress', status: 'sent' });
    assert.deepEqual(decideOnChild(running(1), steps, 1, 'delivered', null), { kind: 'finish', step: 1 });
    assert.deepEqual(decideOnChild(running(2), steps, 2, 'delivered', null), { kind: 'progress', status: 'sent' }, 'step 2 waits for read');
    assert.deepEqual(decideOnChild(running(2), steps, 2, 'read', null), { kind: 'finish', step: 2 });
  });

  test('a permanent failure of the running step starts the next at once; of the last step it ends the cascade', () => {
    for (const status of ['undelivered', 'rejected', 'failed', 'expired', 'cancelled']) {
      assert.deepEqual(decideOnChild(running(1), steps, 1, status, 'subscriber_unknown'), { kind: 'advance', to: 2, stop: null }, status);
    }
    assert.deepEqual(decideOnChild(running(3), steps, 3, 'undelivered', 'subscriber_absent'), { kind: 'finish', step: 3 });
  });

  test('an earlier step, after the cascade moved on: a failure is only its own; a late delivery ends the cascade by it', () => {
    assert.deepEqual(decideOnChild(running(2), steps, 1, 'undelivered', 'unknown'), { kind: 'none' });
    assert.deepEqual(decideOnChild(running(2), steps, 1, 'delivered', null), { kind: 'finish', step: 1 });
  });

  test('a SIM-swap or fraud block at any step stops the cascade', () => {
    assert.deepEqual(decideOnChild(running(1), steps, 1, 'undelivered', 'security_block'), { kind: 'finish', step: 1 });
    assert.deepEqual(decideOnChild(running(2), steps, 1, 'rejected', 'security_block'), { kind: 'finish', step: 1 });
  });

  test('a done cascade is not re-opened; only the deciding step being read moves the parent to read', () => {
    const done = { status: 'done', step: 2, decided_step: 2 };
    assert.deepEqual(decideOnChild(done, steps, 1, 'delivered', null), { kind: 'none' });
    assert.deepEqual(decideOnChild(done, steps, 1, 'read', null), { kind: 'none' });
    assert.deepEqual(decideOnChild(done, steps, 2, 'undelivered', 'unknown'), { kind: 'none' });
    assert.deepEqual(decideOnChild(done, steps, 2, 'read', null), { kind: 'read' });
  });

  test('timeouts: the next step starts and the unsent message is withdrawn; the last step has none', () => {
    assert.deepEqual(decideOnTimer(running(1), steps, 'queued'), { kind: 'advance', to: 2, stop: 1 });
    assert.deepEqual(decideOnTimer(running(1), steps, 'sent'), { kind: 'advance', to: 2, stop: 1 });
    assert.deepEqual(decideOnTimer(running(2), steps, 'delivered'), { kind: 'advance', to: 3, stop: 2 }, 'delivered is not read');
    assert.deepEqual(decideOnTimer(running(1), steps, 'delivered'), { kind: 'finish', step: 1 });
    assert.deepEqual(decideOnTimer(running(3), steps, 'sent'), { kind: 'none' });
    assert.deepEqual(decideOnTimer({ status: 'done', step: 1, decided_step: 1 }, steps, 'sent'), { kind: 'none' });
  });

  test('steps dropped after the running one (its verification ended): the running step is the last', () => {
    const cut = [{ until: 'delivered' as const }, { until: 'delivered' as const, dropped: true as const }, { until: 'delivered' as const, dropped: true as const }];
    assert.deepEqual(decideOnChild(running(1), cut, 1, 'undelivered', 'subscriber_unknown'), { kind: 'finish', step: 1 }, 'a failure ends it: nothing to fall back to');
    assert.deepEqual(decideOnChild(running(1), cut, 1, 'cancelled', 'cascade_superseded'), { kind: 'finish', step: 1 });
    assert.deepEqual(decideOnChild(running(1), cut, 1, 'delivered', null), { kind: 'finish', step: 1 });
    assert.deepEqual(decideOnTimer(running(1), cut, 'sent'), { kind: 'none' }, 'no timeout moves it on');
  });
});
