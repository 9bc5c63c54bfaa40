/**
 * At least once across a crash: SIGKILL the gateway process while it is
 * delivering webhooks, start it again on the same data directory, and check
 * that the receiver got every event of every message, in order per message.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { byMessage, Receiver } from './webhooks-receiver.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const NODE = path.join(ROOT, 'node_modules', '.bin', 'node');
const API_KEY = 'webhooks_crash_test_key_0123456789';
const MESSAGES = 300;
const LIFECYCLE = ['message.queued', 'message.sent', 'message.delivered'];

const children = new Set<ChildProcess>();
const dataDir = mkdtempSync(path.join(tmpdir(), 'depesha-webhooks-crash-'));
const receiver = new Receiver();
after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await receiver.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** `depesha start` as a child process; resolves with its base URL once it logged "depesha started". */
async function startServer(): Promise<{ child: ChildProcess; base: string; exited: Promise<unknown> }> {
  const child = spawn(NODE, ['src/main.ts', 'start'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? tmpdir(),
      DEPESHA_WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
      DEPESHA_DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      SMPP_ENABLED: 'false',
      DEPESHA_BOOTSTRAP_API_KEY: API_KEY,
      LOG_LEVEL: 'info',
      DEPESHA_SANDBOX_SEND_LATENCY_MS: '0',
      DEPESHA_SANDBOX_RECEIPT_DELAY_MS: '20',
      DEPESHA_WEBHOOK_RETRY_BASE_MS: '20',
      DEPESHA_WEBHOOK_RETRY_MAX_MS: '200',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const stderr: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (c: string) => stderr.push(c));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "depesha started" within 60 s: ${stderr.join('')}`)), 60_000);
    void exited.then(() => reject(new Error(`the server exited before it started: ${stderr.join('')}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === 'depesha started') {
        clearTimeout(timer);
        resolve(String(entry.url).replace('0.0.0.0', '127.0.0.1'));
      }
    });
  });
  return { child, base, exited };
}

async function api(base: string, method: string, url: string, body?: unknown) {
  const res = await fetch(base + url, { method, headers: { authorization: `Bearer ${API_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

test('SIGKILL during webhook delivery, then a restart: every event arrives at least once, in order per message', async () => {
  await receiver.listen();

  // 1. start, subscribe, send
  const first = await startServer();
  const sub = await api(first.base, 'POST', '/v1/webhooks', { url: receiver.url, event_types: LIFECYCLE });
  assert.equal(sub.status, 201);
  const to = Array.from({ length: MESSAGES }, (_, i) => `+7916777${5000 + i}`);
  const bulk = await api(first.base, 'POST', '/v1/messages/bulk', { to, text: 'crash' });
  assert.equal(bulk.status, 202);
  const ids = (bulk.body.messages as { id: string }[]).map((m) => m.id);

  // 2. kill it while deliveries are going out
  await receiver.waitFor(() => receiver.accepted.length >= 100, 'the first deliveries');
  first.child.kill('SIGKILL');
  await first.exited;
  const beforeRestart = receiver.accepted.length;
  assert.ok(beforeRestart < ids.length * LIFECYCLE.length, 'killed before everything was delivered');

  // 3. start again on the same data directory: what was pending or in flight goes out
  const second = await startServer();
  await receiver.waitFor(() => ids.every((id) => (byMessage(receiver.accepted).get(id)?.length ?? 0) >= LIFECYCLE.length), 'every event after the restart', 60_000);
  const got = byMessage(receiver.accepted);
  for (const id of ids) assert.deepEqual(got.get(id), LIFECYCLE, `events of ${id}`);
  assert.ok(receiver.accepted.length > beforeRestart, 'the second run delivered the rest');
  const webhook = await api(second.base, 'GET', `/v1/webhooks/${sub.body.id}`);
  assert.equal(webhook.body.enabled, true);
  second.child.kill('SIGTERM');
  await second.exited;
});
