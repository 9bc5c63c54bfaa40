import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InProcessDispatcher } from './dispatcher.ts';
import { retryDelayMs } from './sender.ts';

test('ids enqueued in one tick are handed over in batches, each id once while in flight', async () => {
  const d = new InProcessDispatcher({ batchSize: 3, concurrency: 1 });
  const batches: string[][] = [];
  let release: () => void = () => {};
  let done: () => void;
  const finished = new Promise<void>((r) => (done = r));
  d.start(async (ids) => {
    batches.push(ids);
    if (batches.length === 1) await new Promise<void>((r) => (release = r));
    if (batches.flat().length === 5) done();
  });
  d.enqueue(['a', 'b', 'c', 'd', 'e']);
  d.enqueue(['a', 'e']); // already waiting or in flight: ignored
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(batches, [['a', 'b', 'c']]);
  release();
  await finished;
  assert.deepEqual(batches, [['a', 'b', 'c'], ['d', 'e']]);
  await d.stop();
});

test('a failing batch does not stop the dispatcher, and its ids can come again', async () => {
  const d = new InProcessDispatcher();
  let calls = 0;
  let second: () => void;
  const twice = new Promise<void>((r) => (second = r));
  d.start(async () => {
    calls++;
    if (calls === 1) throw new Error('database down');
    second();
  });
  d.enqueue(['x']);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  d.enqueue(['x']);
  await twice;
  assert.equal(calls, 2);
  await d.stop();
});

test('retry back-off doubles per attempt, is jittered, and is capped', () => {
  const retry = { initialDelayMs: 1000, maxDelayMs: 10_000 };
  assert.equal(retryDelayMs(1, retry, () => 0), 500);
  assert.equal(retryDelayMs(1, retry, () => 1), 1000);
  assert.equal(retryDelayMs(3, retry, () => 1), 4000);
  assert.equal(retryDelayMs(10, retry, () => 1), 10_000);
  assert.equal(retryDelayMs(10, retry, () => 0), 5000);
});
