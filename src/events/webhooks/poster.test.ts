import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { EndpointQueues, SKIPPED, spawnPosterThread, ThreadPoster, type Outcome, type PosterOptions, type PostRequest } from './poster.ts';

const ok: Outcome = { ok: true, statusCode: 204, excerpt: null, error: null, latencyMs: 1 };
const failed: Outcome = { ok: false, statusCode: 503, excerpt: null, error: 'answered 503', latencyMs: 1 };

/** A send whose answers the test gives by hand, in any order. */
function manualSend() {
  const started: { request: PostRequest; answer: (o: Outcome) => void }[] = [];
  const send = (request: PostRequest) => new Promise<Outcome>((resolve) => started.push({ request, answer: resolve }));
  return { started, send };
}

const request = (endpoint: string, body: string, limit = 2, url = `http://${endpoint}/`): PostRequest => ({ url, headers: {}, body, timeoutMs: 5000, endpoint, limit });

test('at most `limit` requests per endpoint are in flight; the next starts as one is answered, in order; endpoints do not wait for each other', async () => {
  const { started, send } = manualSend();
  const queues = new EndpointQueues(send);
  const results = ['a1', 'a2', 'a3', 'a4'].map((b) => queues.post(request('a', b)));
  const other = queues.post(request('b', 'b1'));
  assert.deepEqual(started.map((s) => s.request.body), ['a1', 'a2', 'b1']);
  started[1]!.answer(ok);
  assert.equal(await results[1], ok);
  assert.deepEqual(started.map((s) => s.request.body), ['a1', 'a2', 'b1', 'a3']);
  started[2]!.answer(ok);
  assert.equal(await other, ok);
  started[0]!.answer(ok);
  await results[0];
  assert.deepEqual(started.map((s) => s.request.body), ['a1', 'a2', 'b1', 'a3', 'a4']);
  started[3]!.answer(ok);
  started[4]!.answer(ok);
  assert.deepEqual(await Promise.all(results), [ok, ok, ok, ok]);
});

test('a failure skips what waits for that endpoint (after the failure itself is reported), not what is in flight, and not other endpoints', async () => {
  const { started, send } = manualSend();
  const queues = new EndpointQueues(send);
  const order: string[] = [];
  const post = (r: PostRequest) => queues.post(r).then((o) => (order.push(`${r.body}:${o === SKIPPED ? 'skipped' : o?.ok ? 'ok' : 'failed'}`), o));
  const a = ['a1', 'a2', 'a3', 'a4'].map((b) => post(request('a', b)));
  const b = [post(request('b', 'b1', 1)), post(request('b', 'b2', 1))];
  started[0]!.answer(failed); // a1
  assert.equal(await a[0], failed);
  assert.equal(await a[2], SKIPPED);
  assert.equal(await a[3], SKIPPED);
  assert.deepEqual(order, ['a1:failed', 'a3:skipped', 'a4:skipped']);
  started[1]!.answer(ok); // a2 was in flight: it goes on
  assert.equal(await a[1], ok);
  started[2]!.answer(ok); // b1
  await b[0];
  assert.equal(started[3]!.request.body, 'b2');
  started[3]!.answer(ok);
  assert.equal(await b[1], ok);
  // The endpoint is usable again: a new request (the sender's probe) is sent.
  const probe = post(request('a', 'a5'));
  assert.equal(started[4]!.request.body, 'a5');
  started[4]!.answer(ok);
  assert.equal(await probe, ok);
});

test('a poster thread that dies fails its requests as retryable attempts and is started again; later requests go out', async () => {
  // 1. a receiver that holds the first request and answers the others
  const held: ServerResponse[] = [];
  let arrived: () => void = () => {};
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/hold') {
        held.push(res);
        arrived();
      } else res.writeHead(204).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const threads: Worker[] = [];
  const poster = new ThreadPoster({ allowPrivateAddresses: true }, (options: PosterOptions) => {
    const w = spawnPosterThread(options);
    threads.push(w);
    return w;
  });
  try {
    const first = await poster.post(request('r', 'first', 1, `${base}/ok`));
    assert.ok(first !== undefined && first !== SKIPPED && first.ok);
    // 2. a request in flight when the thread is killed
    const inFlight = new Promise<void>((resolve) => (arrived = resolve));
    const lost = poster.post(request('r', 'lost', 1, `${base}/hold`));
    await inFlight;
    await threads[0]!.terminate();
    const outcome = await lost;
    assert.ok(outcome !== undefined && outcome !== SKIPPED);
    assert.equal(outcome.ok, false, 'a failed attempt: the sender retries it');
    assert.match(outcome.error!, /the webhook poster thread stopped \(exit code \d+\); it is restarted/);
    // 3. a new thread takes the next request (before the fix: it never resolved)
    const next = await poster.post(request('r', 'next', 1, `${base}/ok`));
    assert.ok(next !== undefined && next !== SKIPPED && next.ok, JSON.stringify(next));
    assert.equal(next.statusCode, 204);
    assert.equal(threads.length, 2);
  } finally {
    await poster.close();
    for (const res of held) res.destroy();
    server.close();
  }
});

test('a poster thread that dies at every start is restarted after a growing back-off, and posts fail meanwhile instead of waiting', async () => {
  let spawned = 0;
  let died: () => void = () => {};
  const poster = new ThreadPoster({ allowPrivateAddresses: true }, () => {
    spawned++;
    const w = new Worker('process.exit(3)', { eval: true });
    w.once('exit', () => setImmediate(() => died()));
    return w;
  });
  try {
    // 1. the first death restarts at once; the second waits 100 ms
    for (let deaths = 0; deaths < 2; deaths++) await new Promise<void>((resolve) => (died = resolve));
    assert.equal(spawned, 2);
    const meanwhile = await poster.post(request('r', 'x', 1, 'http://127.0.0.1:9/'));
    assert.ok(meanwhile !== undefined && meanwhile !== SKIPPED && !meanwhile.ok);
    assert.match(meanwhile.error!, /being restarted/);
    // 2. then it starts again
    await new Promise<void>((resolve) => (died = resolve));
    assert.equal(spawned, 3);
  } finally {
    await poster.close();
  }
  const after = spawned;
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.equal(spawned, after, 'no restart after close');
});
