import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { EventBus, type StatusChange } from './bus.ts';
import { LiveHub, writeStream, type StreamOptions } from './live.ts';
import { newId } from '../domain/ids.ts';

const change = (accountId: string, status: StatusChange['status'] = 'sent', at = Date.now()): StatusChange => ({
  eventId: newId('evt', at),
  accountId,
  messageId: 'msg_1',
  status,
  reasonCode: null,
  providerCode: null,
  at,
});

const options = (extra: Partial<StreamOptions> = {}): StreamOptions => ({
  replay: async () => [],
  format: (c) => `id: ${c.eventId}\ndata: ${c.status}\n\n`,
  farewell: (reason) => `event: dropped\ndata: ${reason}\n\n`,
  keepAliveMs: 60_000,
  ...extra,
});

/** Resolves once the text written to `out` contains `needle`. */
function written(out: PassThrough, needle: string): Promise<string> {
  let text = '';
  return new Promise((resolve) => {
    out.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes(needle)) resolve(text);
    });
  });
}

describe('LiveHub and writeStream', () => {
  test("a stream gets its account's changes in id order, after those of one turn are gathered", async () => {
    const bus = new EventBus();
    const hub = new LiveHub(bus);
    const sub = (await hub.open('acc_a', 'key_1'))!;
    const out = new PassThrough();
    const done = writeStream(sub, out, options());
    const [first, second, third] = [change('acc_a', 'queued'), change('acc_a', 'sent'), change('acc_a', 'delivered')];
    // One commit's units publish out of id order; another account's change is not for this stream.
    bus.publishStatus([third!, change('acc_b')]);
    bus.publishStatus([first!, second!]);
    const text = await written(out, third!.eventId);
    const ids = [...text.matchAll(/^id: (\S+)$/gm)].map((m) => m[1]);
    assert.deepEqual(ids, [first!.eventId, second!.eventId, third!.eventId]);
    out.destroy();
    assert.equal(await done, 'closed');
    assert.equal(hub.size, 0, 'the subscription left the hub when the client went');
  });

  test('replays stored events after Last-Event-ID, then live ones, skipping those the replay wrote', async () => {
    const bus = new EventBus();
    const hub = new LiveHub(bus);
    const sub = (await hub.open('acc_a', 'key_1'))!;
    const stored = [change('acc_a', 'queued'), change('acc_a', 'sent'), change('acc_a', 'delivered')];
    const out = new PassThrough();
    let asked: string | undefined;
    // The second stored event is committed while the stream opens: it is both replayed and live.
    bus.publishStatus([stored[1]!]);
    const done = writeStream(sub, out, options({ lastEventId: stored[0]!.eventId, replay: async (after) => ((asked = after), stored.filter((c) => c.eventId > after)) }));
    const live = change('acc_a', 'read');
    setImmediate(() => bus.publishStatus([stored[2]!, live]));
    const text = await written(out, live.eventId);
    assert.equal(asked, stored[0]!.eventId);
    const ids = [...text.matchAll(/^id: (\S+)$/gm)].map((m) => m[1]);
    assert.deepEqual(ids, [stored[1]!.eventId, stored[2]!.eventId, live.eventId]);
    out.destroy();
    await done;
  });

  test('a client that does not read is dropped with a reason instead of buffered without bound', async () => {
    const bus = new EventBus();
    const hub = new LiveHub(bus, { maxQueued: 5 });
    const sub = (await hub.open('acc_a', 'key_1'))!;
    const chunks: string[] = [];
    // A socket whose reader never reads: the first write is taken, none completes, drain never comes.
    const out = new Writable({ highWaterMark: 16, write: (chunk: Buffer) => void chunks.push(chunk.toString()) });
    const done = writeStream(sub, out, options());
    for (let i = 0; i < 20; i++) {
      bus.publishStatus([change('acc_a')]);
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(await done, 'slow_consumer');
    assert.equal(hub.size, 0);
    assert.ok(out.writableLength < 4096, `at most a few events were buffered, not ${out.writableLength} bytes`);
  });

  test('a write that waits too long for the reader ends the stream', async () => {
    const hub = new LiveHub(new EventBus());
    const sub = (await hub.open('acc_a', 'key_1'))!;
    const out = new Writable({ highWaterMark: 1, write: () => {} });
    assert.equal(await writeStream(sub, out, options({ stallMs: 20 })), 'slow_consumer');
  });

  test('a key holds at most maxPerKey streams; closing one frees its place', async () => {
    const hub = new LiveHub(new EventBus(), { maxPerKey: 2 });
    const a = (await hub.open('acc_a', 'key_1'))!;
    assert.ok(await hub.open('acc_a', 'key_1'));
    assert.equal(await hub.open('acc_a', 'key_1'), undefined);
    assert.ok(await hub.open('acc_a', 'key_2'), 'another key has its own allowance');
    a.end('closed');
    assert.ok(await hub.open('acc_a', 'key_1'));
  });

  test("endKey ends the account's streams of that API key only, with its reason", async () => {
    const hub = new LiveHub(new EventBus());
    const [a, b] = [(await hub.open('acc_a', 'key_1', { apiKey: true }))!, (await hub.open('acc_a', 'key_1', { apiKey: true }))!];
    const otherKey = (await hub.open('acc_a', 'key_2', { apiKey: true }))!;
    const session = (await hub.open('acc_a', 'usr_1'))!;
    const otherAccount = (await hub.open('acc_b', 'key_3', { apiKey: true }))!;
    assert.deepEqual([...hub.apiKeysOpen()].map(([acc, keys]) => [acc, [...keys].sort()]), [['acc_a', ['key_1', 'key_2']], ['acc_b', ['key_3']]], 'a session\'s stream is not an API key\'s');
    hub.endKey('acc_b', 'key_1', 'key_revoked');
    assert.equal(hub.size, 5, 'another account names the key: nothing ends');
    hub.endKey('acc_a', 'key_1', 'key_revoked');
    assert.deepEqual([a.ended, b.ended, otherKey.ended, session.ended, otherAccount.ended], ['key_revoked', 'key_revoked', undefined, undefined, undefined]);
    assert.equal(hub.size, 3);
  });

  test('progress figures: only to the streams of their account that asked, the latest per key, an unchanged one not again', async () => {
    const hub = new LiveHub(new EventBus());
    const asked = (await hub.open('acc_a', 'key_1', { progress: true }))!;
    const plain = (await hub.open('acc_a', 'key_1'))!;
    const stranger = (await hub.open('acc_b', 'key_2', { progress: true }))!;
    assert.deepEqual(hub.progressAccounts().sort(), ['acc_a', 'acc_b']);
    const figure = (key: string, digest: string, final = false) => ({ accountId: 'acc_a', key, digest, text: `event: mailing.progress\ndata: ${key} ${digest}\n\n`, final });
    hub.pushProgress([figure('mlg_1', '1'), figure('mlg_1', '2'), figure('mlg_2', '1')]);
    assert.deepEqual(asked.takeProgress().map((p) => [p.key, p.digest]), [['mlg_1', '2'], ['mlg_2', '1']], 'the latest of each');
    assert.deepEqual([plain.takeProgress(), stranger.takeProgress()], [[], []]);
    hub.pushProgress([figure('mlg_1', '2'), figure('mlg_2', '2')]);
    assert.deepEqual(asked.takeProgress().map((p) => [p.key, p.digest]), [['mlg_2', '2']], 'mlg_1 did not change');
    hub.pushProgress([figure('mlg_1', '2', true)]);
    assert.deepEqual(asked.takeProgress(), [], 'a last figure equal to the one written is not written again');
    hub.pushProgress([figure('mlg_1', '2')]);
    assert.equal(asked.takeProgress().length, 1, 'the key was forgotten after its last figure');

    // Written by the stream after the status changes, and they wake a waiting writer.
    const out = new PassThrough();
    const done = writeStream(asked, out, options());
    setImmediate(() => hub.pushProgress([figure('mlg_3', '1')]));
    const text = await written(out, 'mlg_3 1');
    assert.ok(!text.includes('id: '), 'no event id');
    hub.closeAll('shutting_down');
    assert.equal(await done, 'shutting_down');
    assert.deepEqual(hub.progressAccounts(), []);
  });

  test('keep-alive comments while nothing happens', async () => {
    const hub = new LiveHub(new EventBus());
    const sub = (await hub.open('acc_a', 'key_1'))!;
    const out = new PassThrough();
    const done = writeStream(sub, out, options({ keepAliveMs: 10 }));
    const text = await written(out, ': keep-alive');
    assert.ok(text.startsWith('retry: 3000\n'));
    hub.closeAll('shutting_down');
    assert.equal(await done, 'shutting_down');
  });
});
