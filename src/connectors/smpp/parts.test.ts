import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectorError } from '../types.ts';
import { settleParts } from './smpp.ts';

const ok = (id: string): PromiseSettledResult<string> => ({ status: 'fulfilled', value: id });
const fail = (reason: unknown): PromiseSettledResult<string> => ({ status: 'rejected', reason });
const throttled = new ConnectorError('throttled', { retryable: true, reason: 'operator_throttled', providerCode: '0x00000058' });
const timedOut = new ConnectorError('operator: no response within 10000 ms', { retryable: true, reason: 'operator_unavailable' });
const refused = new ConnectorError('submit failed', { retryable: false, reason: 'operator_rejected', providerCode: '0x00000045' });

test('every part taken: the ids and the reference', () => {
  assert.deepEqual(settleParts([ok('a'), ok('b')], 7, 0), { providerIds: ['a', 'b'], concatRef: 7 });
  assert.deepEqual(settleParts([ok('a')], undefined, 0), { providerIds: ['a'] });
});

test('a part throttled or timed out while others were taken is deferred, with the reference for its retry', () => {
  assert.deepEqual(settleParts([ok('a'), fail(throttled), fail(timedOut)], 7, 0), {
    providerIds: ['a', '', ''],
    deferred: [
      { part: 2, reason: { code: 'operator_throttled', providerCode: '0x00000058', detail: 'throttled' } },
      { part: 3, reason: { code: 'operator_unavailable', providerCode: undefined, detail: timedOut.message } },
    ],
    concatRef: 7,
  });
  // An unexpected failure under a submit counts as a temporary one.
  assert.equal(settleParts([ok('a'), fail(new Error('boom'))], 7, 0).deferred?.[0]?.reason.code, 'operator_error');
});

test('a part refused for good decides the message: the parts not taken are all refused, the deferred ones too', () => {
  const result = settleParts([ok('a'), fail(refused), fail(throttled)], 7, 0);
  assert.deepEqual(result.providerIds, ['a', '', '']);
  assert.deepEqual(result.refused?.map((r) => [r.part, r.reason.code]), [
    [2, 'operator_rejected'],
    [3, 'operator_throttled'],
  ]);
  assert.equal(result.deferred, undefined);
});

test('nothing taken: the refusal for good is thrown before a temporary error, a temporary error alone is thrown', () => {
  assert.throws(() => settleParts([fail(throttled), fail(refused)], 7, 0), (err) => err === refused);
  assert.throws(() => settleParts([fail(throttled), fail(timedOut)], 7, 0), (err) => err === throttled);
});

test('on a retry the parts taken before count: the rest failing again for now is deferred again, not thrown', () => {
  // Parts 1 and 3 came with the retry (their known ids); part 2 is throttled again.
  assert.deepEqual(settleParts([ok('a'), fail(throttled), ok('c')], 7, 2).deferred?.map((d) => d.part), [2]);
  assert.deepEqual(settleParts([ok('a'), fail(refused), ok('c')], 7, 2).refused?.map((d) => d.part), [2]);
});
