/**
 * A clean shutdown of one gateway (SQLite, the delivery thread): the order of
 * gateway.close() (no new claims while the listeners finish their requests,
 * the submits in flight answered and recorded before the connectors unbind),
 * and the delivery thread's stop deadline above the connectors' response
 * timeouts. The cluster's parts of it (the lead, the submit slots) are in
 * cluster-parts.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { startGateway, type Gateway } from '../src/gateway.ts';
import { createLogger } from '../src/log.ts';
import { SmscSimulator } from '../src/smpp/simulator.ts';
import { generateApiKey } from '../src/store/accounts.ts';
import { responseTimeoutMs } from '../src/pipeline/delivery.ts';
import { stopDeadlineMs } from '../src/pipeline/delivery-thread-handle.ts';
import { startTestGateway, until, waitForStatus } from './helpers.ts';

const statusOf = async (gateway: Gateway, id: string) =>
  (await gateway.database.db.selectFrom('messages').select(['status', 'attempts', 'sent_at']).where('id', '=', id).executeTakeFirstOrThrow());

test('close(): nothing is claimed or sent while the HTTP port finishes its requests; a request in flight is answered and its message kept', { timeout: 60_000 }, async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'depesha-shutdown-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const apiKey = generateApiKey();
  const config = loadConfig({
    DEPESHA_DATA_DIR: dataDir,
    DEPESHA_BOOTSTRAP_API_KEY: apiKey,
    LOG_LEVEL: 'silent',
    PORT: '0',
    HOST: '127.0.0.1',
    SMPP_ENABLED: 'false',
    DEPESHA_SANDBOX_SEND_LATENCY_MS: '0',
    DEPESHA_SANDBOX_RECEIPT_DELAY_MS: '20',
    DEPESHA_SQLITE_SYNCHRONOUS: 'normal',
  });
  const start = () => startGateway(config, { log: createLogger('silent'), print: () => {}, pollMs: 50 });
  let gateway = await start();
  let socket: Socket | undefined;
  t.after(async () => {
    socket?.destroy(); // a request left half-sent would hold the port's close
    await gateway.close();
  });
  const url = new URL(gateway.url!);
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
  // Due 1.5 s from now: it falls due while the node is shutting down.
  const dueAt = Date.now() + 1500;
  const res = await fetch(`${gateway.url}/v1/messages`, { method: 'POST', headers, body: JSON.stringify({ to: '+79161234567', text: 'due during the shutdown', send_at: new Date(dueAt).toISOString() }) });
  assert.equal(res.status, 202);
  const scheduled = ((await res.json()) as { id: string }).id;

  // A request the server is reading when the shutdown begins: its body is not all there yet.
  const body = JSON.stringify({ to: '+79161234568', text: 'accepted during the shutdown' });
  socket = connect(Number(url.port), '127.0.0.1');
  const reading = new Promise<void>((resolve) => gateway.app.server.once('request', () => resolve()));
  socket.write(`POST /v1/messages HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${apiKey}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`);
  let answer = '';
  const answered = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk) => {
      answer += chunk.toString();
      if (/\r\n\r\n[^]*\}$/.test(answer)) resolve();
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`the connection closed; answer so far: ${JSON.stringify(answer)}`)));
  });
  await reading;

  const closed = gateway.close();
  // The HTTP port stays open for that request meanwhile; the scheduled message falls due and is not claimed
  // (before, the delivery side ran on until the port had closed, and sent it).
  await until('the scheduled message due for a second', async () => (Date.now() > dueAt + 1000 ? true : undefined));
  const held = await statusOf(gateway, scheduled);
  assert.equal(held.status, 'accepted', 'not claimed after the shutdown began');
  assert.equal(held.attempts, 0);

  // The rest of the body: the request is answered 202, and what it acknowledged is stored.
  socket.write(body.slice(10));
  await answered;
  socket.end();
  assert.match(answer, /^HTTP\/1\.1 202 /, answer);
  const late = (JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { id: string }).id;
  await closed;

  // The next start sends both, each once.
  gateway = await start();
  for (const id of [scheduled, late]) {
    assert.equal(await waitForStatus(gateway, id, ['delivered']), 'delivered');
    const row = await statusOf(gateway, id);
    assert.equal(row.attempts, 1, `${id} submitted once`);
  }
});

test('the delivery thread is not stopped before a submit\'s answer is due: a response timeout longer than 10 s is waited for, and the message is not sent twice', { timeout: 90_000 }, async (t) => {
  // The SMSC answers after 11 s, within the connector's 12 s response timeout. Before, the thread was stopped hard
  // 10 s into the stop: the submit's answer never recorded, the message claimed, and sent again at the next start.
  const sim = new SmscSimulator({ accounts: { depesha: 'secret1' }, receiptDelayMs: 20, submitDelayMs: 11_000 });
  const port = await sim.start();
  t.after(() => sim.stop());
  const gw = await startTestGateway('sqlite', {}, {
    configFile: {
      connectors: [{ id: 'operator', type: 'smpp', host: '127.0.0.1', port, system_id: 'depesha', password: 'secret1', response_timeout_ms: 12_000, reconnect_min_ms: 20, reconnect_max_ms: 200 }],
      routes: [{ connector: 'operator' }],
    },
  });
  t.after(() => gw.close());
  const post = async (to: string) => {
    const res = await gw.gateway.app.inject({ method: 'POST', url: '/v1/messages', headers: { authorization: `Bearer ${gw.apiKey}`, 'content-type': 'application/json' }, payload: JSON.stringify({ to, text: 'slow answer' }) });
    assert.equal(res.statusCode, 202, res.body);
    return (res.json() as { id: string }).id;
  };
  const up = async () => {
    const list = (await gw.gateway.app.inject({ method: 'GET', url: '/v1/connectors', headers: { authorization: `Bearer ${gw.apiKey}` } })).json() as { data: { id: string; status: string }[] };
    return list.data.find((c) => c.id === 'operator')?.status === 'up' ? true : undefined;
  };
  await until('the operator bound', up);
  const id = await post('+79161234567');
  await until('the submit at the SMSC', async () => (sim.stats.submits === 1 ? true : undefined));
  sim.set({ submitDelayMs: 0 }); // for the submits from now on; the one in flight keeps its 11 s
  await gw.restart();
  const after = await statusOf(gw.gateway, id);
  assert.ok(after.status === 'sent' || after.status === 'delivered', `the submit's answer was recorded before the stop: ${after.status}`);
  assert.ok(after.sent_at !== null);
  // A later message goes through the restarted pipeline; the first is not submitted again.
  await until('the operator bound again', up);
  const next = await post('+79161234568');
  assert.ok(['sent', 'delivered'].includes(await waitForStatus(gw.gateway, next, ['sent', 'delivered'])));
  assert.equal(sim.stats.submits, 2, 'the first message submitted once, the second once');
});

test('the delivery thread\'s stop deadline is above the longest response timeout of the connectors', () => {
  assert.equal(responseTimeoutMs({ type: 'smpp' }), 10_000, 'SMPP: its default response timeout');
  assert.equal(responseTimeoutMs({ type: 'smpp', response_timeout_ms: 30_000 } as { type: string }), 30_000);
  assert.equal(responseTimeoutMs({ type: 'telegram_bot' }), 15_000, 'the HTTP clients\' default');
  assert.equal(responseTimeoutMs({ type: 'http', send: { timeout_ms: 40_000 }, status: { timeout_ms: 500 } } as { type: string }), 40_000, 'an HTTP connector: its longest request timeout');
  for (const longest of [0, 10_000, 120_000]) assert.ok(stopDeadlineMs(longest) > longest);
});
