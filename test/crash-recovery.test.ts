/**
 * Durable before acknowledged: SIGKILL the server in the middle of a bulk load,
 * restart it on the same data directory, and check that every message the API
 * acknowledged (202) exists, reaches its final status, and was handed to the
 * sandbox operator exactly once per part, across both runs; on SQLite and on
 * PostgreSQL (embedded mode: DATABASE_URL, no Redis).
 */
import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { dialects, freePort } from './helpers.ts';
import { createDatabase } from './cluster-nodes.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';

const ROOT = path.resolve(import.meta.dirname, '..');
const NODE = path.join(ROOT, 'node_modules', '.bin', 'node');
const API_KEY = 'crash_recovery_test_key_0123456789';
const ACK_TARGET = 1500;
const BULK_SIZE = 200;
const BULK_CLIENTS = 3;
const SINGLE_CLIENTS = 8;
const FINAL_DEADLINE_MS = 60_000;
const OPEN_STATUSES = ['accepted', 'queued', 'sent'] as const;

// ---------------------------------------------------------------- processes

interface Server {
  child: ChildProcess;
  base: string;
  /** resolves when the process has ended (after a SIGKILL: signal 'SIGKILL') */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** parsed JSON log lines seen on stdout */
  logs: Record<string, unknown>[];
  stderr: string[];
}

const children = new Set<ChildProcess>();
const tempDirs: string[] = [];

after(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    }
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});


/** Starts `node src/main.ts start` and resolves once it logged "depesha started" and /readyz answers 200. */
async function startServer(dataDir: string, databaseUrl: string | undefined): Promise<Server> {
  const port = await freePort();
  const child = spawn(NODE, ['src/main.ts', 'start'], {
    cwd: ROOT,
    // A clean environment: nothing from the caller (DATABASE_URL, DEPESHA_CONFIG, NODE_TEST_CONTEXT…) leaks in.
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? tmpdir(),
      DEPESHA_DATA_DIR: dataDir,
      PORT: String(port),
      SMPP_PORT: '0',
      HOST: '127.0.0.1',
      DEPESHA_BOOTSTRAP_API_KEY: API_KEY,
      LOG_LEVEL: 'info',
      DEPESHA_SANDBOX_RECEIPT_DELAY_MS: '50',
      DEPESHA_SQLITE_SYNCHRONOUS: 'full',
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));

  const started = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not log "depesha started" within 60 s; stderr:\n${stderr.join('')}`)), 60_000);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (code ${code}, signal ${signal}) before it started; stderr:\n${stderr.join('')}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return; // the bootstrap notice is plain text
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg === 'depesha started') {
        clearTimeout(timer);
        resolve(String(entry.url));
      }
    });
  });
  const url = await started;
  const base = `http://127.0.0.1:${port}`;
  assert.equal(new URL(url).port, String(port), `the server listens on ${url}, not on the port it was given`);

  // The port is open before the log line, so a refusal is only a race with the kernel: retry a bounded number of times.
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(`${base}/readyz`);
      const body = await res.text();
      if (res.status === 200) break;
      if (attempt >= 50) throw new Error(`/readyz answered ${res.status} ${body}`);
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code;
      if (code !== 'ECONNREFUSED' || attempt >= 50) throw err;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { child, base, exited, logs, stderr };
}

// ---------------------------------------------------------------- HTTP

const auth = { authorization: `Bearer ${API_KEY}` };

async function getJson<T>(base: string, pathAndQuery: string): Promise<{ status: number; body: T }> {
  const res = await fetch(base + pathAndQuery, { headers: auth });
  return { status: res.status, body: (await res.json()) as T };
}

interface ApiMessage {
  id: string;
  status: string;
  parts_count: number;
  attempts: number;
  parts?: { index: number; status: string; provider_message_id: string | null }[];
}

/** Every message of the account, by id, through the list endpoint (1000 a page). */
async function listAll(base: string, status?: string): Promise<Map<string, ApiMessage>> {
  const out = new Map<string, ApiMessage>();
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams({ limit: '1000' });
    if (status) q.set('status', status);
    if (cursor) q.set('cursor', cursor);
    const { status: code, body } = await getJson<{ data: ApiMessage[]; next_cursor: string | null }>(base, `/v1/messages?${q}`);
    assert.equal(code, 200, `GET /v1/messages?${q} answered ${code}`);
    for (const m of body.data) out.set(m.id, m);
    cursor = body.next_cursor;
  } while (cursor);
  return out;
}

/** Runs `fn` over `items` with at most `limit` at once. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!);
      }
    }),
  );
  return results;
}

// ---------------------------------------------------------------- load

let numberSeq = 0;
/** Distinct +7916… mobile numbers; endings 0000–0003 are the sandbox's failure cases, so they are skipped. */
function nextNumber(): string {
  for (;;) {
    const n = 1_000_000 + numberSeq++;
    if (n % 10_000 >= 4) return `+7916${n}`;
  }
}

const TEXTS = [
  'Your code is 4821', // 1 GSM-7 part
  'Order 1234 is on its way. '.repeat(7).trim(), // 181 septets: 2 GSM-7 parts
  'Ваш заказ доставлен, спасибо за покупку! '.repeat(3).trim(), // ~122 UCS-2 units: 2 parts
  'Appointment reminder: '.repeat(16).trim(), // ~350 septets: 3 GSM-7 parts
];

// ---------------------------------------------------------------- journal

interface JournalLine {
  t: 's' | 'a';
  key?: string;
  providerId: string;
}

/** Parses a journal copy; a torn line can only be the last one (a write cut by the kill). */
function parseJournal(text: string, name: string): { lines: JournalLine[]; torn: number } {
  const raw = text.split('\n');
  const lines: JournalLine[] = [];
  let torn = 0;
  raw.forEach((line, i) => {
    if (!line) return;
    try {
      lines.push(JSON.parse(line) as JournalLine);
    } catch {
      const isLast = raw.slice(i + 1).every((l) => l === '');
      assert.ok(isLast, `${name}: unparseable journal line ${i + 1} that is not the last one: ${line.slice(0, 120)}`);
      torn++;
    }
  });
  return { lines, torn };
}

// ---------------------------------------------------------------- the test

for (const dialect of await dialects()) {
  test(`SIGKILL during a bulk load on ${dialect.name}: every acknowledged message survives, reaches its final status and is sent once per part`, { timeout: 180_000, skip: dialect.skip }, async (t) => {
    // On PostgreSQL a database of its own: the server is a separate process, a schema per suite would not reach it.
    const database = dialect.name === 'postgres' ? await createDatabase() : undefined;
    try {
      await sigkillDuringBulk(t, database?.url);
    } finally {
      await database?.drop();
    }
  });
}

async function sigkillDuringBulk(t: TestContext, databaseUrl: string | undefined): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'depesha-crash-'));
  tempDirs.push(dataDir);
  const journalFile = path.join(dataDir, 'sandbox-journal.jsonl');
  const journalBefore = path.join(dataDir, 'journal-before-restart.jsonl.copy');

  // ---- run 1: load, then SIGKILL with requests in flight
  const first = await startServer(dataDir, databaseUrl);

  /** message id → parts, for every 202 the clients received */
  const acked = new Map<string, { parts: number; via: 'single' | 'bulk' }>();
  const unexpected: string[] = [];
  let killed = false;
  let inFlightRequests = 0;
  let inFlightMessages = 0;
  let atKill = { acked: 0, requests: 0, messages: 0 };
  let ackedAfterKillSignal = 0;
  let failedRequests = 0;
  let requestSeq = 0;

  const kill = () => {
    if (killed) return;
    killed = true;
    atKill = { acked: acked.size, requests: inFlightRequests, messages: inFlightMessages };
    first.child.kill('SIGKILL');
  };

  async function request(pathname: string, body: unknown, count: number, onAccepted: (json: unknown) => void): Promise<void> {
    inFlightRequests++;
    inFlightMessages += count;
    try {
      const res = await fetch(first.base + pathname, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const text = await res.text();
      if (res.status === 202) {
        if (killed) ackedAfterKillSignal += count;
        onAccepted(JSON.parse(text));
      } else {
        unexpected.push(`${pathname} → ${res.status} ${text.slice(0, 300)}`);
      }
    } catch (err) {
      // After the kill, a failed request is simply not acknowledged; before it, a failure is a bug.
      if (!killed) unexpected.push(`${pathname} failed before the kill: ${(err as Error).message} ${String((err as { cause?: unknown }).cause ?? '')}`);
      failedRequests++;
    } finally {
      inFlightRequests--;
      inFlightMessages -= count;
    }
    // On an unexpected answer, stop the load early.
    if (unexpected.length > 0) kill();
  }

  // Enough acknowledged: kill on the sandbox's next journal write, with the other clients' requests in flight.
  // The sender marks a message sent only after the sandbox journaled it, so a kill right after a journal write
  // is likely to leave messages the sandbox has accepted but the store still holds as queued: their resubmit after
  // the restart must not send them again. Without a journal write soon, kill anyway.
  let armed: NodeJS.Timeout | undefined;
  const watcher = watch(dataDir, (_event, file) => {
    if (file === 'sandbox-journal.jsonl' && acked.size >= ACK_TARGET) kill();
  });
  const onAck = () => {
    if (acked.size >= ACK_TARGET && !armed) armed = setTimeout(kill, 2000);
  };

  const bulkClient = async () => {
    while (!killed) {
      const to = Array.from({ length: BULK_SIZE }, nextNumber);
      const text = TEXTS[requestSeq++ % 2]!; // 1 or 2 parts
      await request('/v1/messages/bulk', { to, text }, to.length, (json) => {
        const r = json as { accepted: number; rejected: number; errors: unknown[]; messages: { id: string; parts_count: number }[] };
        if (r.rejected !== 0) unexpected.push(`bulk rejected ${r.rejected} items: ${JSON.stringify(r.errors).slice(0, 300)}`);
        for (const m of r.messages) acked.set(m.id, { parts: m.parts_count, via: 'bulk' });
        onAck();
      });
    }
  };
  const singleClient = async () => {
    while (!killed) {
      const text = TEXTS[requestSeq++ % TEXTS.length]!;
      await request('/v1/messages', { to: nextNumber(), text }, 1, (json) => {
        const m = json as { id: string; parts_count: number; status: string };
        acked.set(m.id, { parts: m.parts_count, via: 'single' });
        onAck();
      });
    }
  };

  // A bound on the load phase, so a server that stops acknowledging fails the test instead of hanging it.
  const loadTimer = setTimeout(kill, 20_000);
  const loadDone = Promise.all([...Array.from({ length: BULK_CLIENTS }, bulkClient), ...Array.from({ length: SINGLE_CLIENTS }, singleClient)]);
  // The load ends with the kill; if the server died on its own, the clients stop at their first failure.
  const death = await first.exited;
  killed = true;
  clearTimeout(loadTimer);
  clearTimeout(armed);
  watcher.close();
  await loadDone;
  assert.deepEqual(death, { code: null, signal: 'SIGKILL' }, `the first run ended by itself, not by our SIGKILL; stderr:\n${first.stderr.join('')}`);
  assert.deepEqual(unexpected, [], 'requests answered with something other than 202 while the server was up');
  assert.ok(atKill.acked >= ACK_TARGET, `killed after only ${atKill.acked} acknowledgements`);

  assert.ok(existsSync(journalFile), 'the sandbox journal exists after the first run (something was sent before the kill)');
  copyFileSync(journalFile, journalBefore);

  const partsOf = (id: string) => acked.get(id)!.parts;
  const totalParts = [...acked.keys()].reduce((n, id) => n + partsOf(id), 0);
  t.diagnostic(
    `kill: ${atKill.acked} messages acknowledged, ${atKill.requests} requests (${atKill.messages} messages) in flight; ` +
      `${ackedAfterKillSignal} more acknowledged between the signal and the death; ${failedRequests} requests lost; ` +
      `acknowledged in total: ${acked.size} messages (${[...acked.values()].filter((a) => a.via === 'single').length} single), ${totalParts} parts`,
  );

  // ---- run 2: restart on the same data directory
  const second = await startServer(dataDir, databaseUrl);
  const recovered = second.logs.find((l) => l.msg === 'messages left in flight by the last run are due again')?.recovered ?? 0;

  // ---- every acknowledged message reaches a final status
  const deadline = Date.now() + FINAL_DEADLINE_MS;
  let polls = 0;
  for (;;) {
    polls++;
    const open = await Promise.all(OPEN_STATUSES.map((s) => getJson<{ data: ApiMessage[] }>(second.base, `/v1/messages?status=${s}&limit=1`)));
    for (const [i, r] of open.entries()) assert.equal(r.status, 200, `GET /v1/messages?status=${OPEN_STATUSES[i]} answered ${r.status}`);
    if (open.every((r) => r.body.data.length === 0)) break;
    if (Date.now() > deadline) {
      const all = await listAll(second.base);
      const stuck = [...acked.keys()].filter((id) => !['delivered', 'undelivered', 'failed', 'expired', 'rejected', 'cancelled', 'read'].includes(all.get(id)?.status ?? 'missing'));
      const byStatus: Record<string, number> = {};
      for (const id of stuck) byStatus[all.get(id)?.status ?? 'missing'] = (byStatus[all.get(id)?.status ?? 'missing'] ?? 0) + 1;
      assert.fail(
        `${stuck.length} acknowledged messages not final ${FINAL_DEADLINE_MS} ms after the restart (${JSON.stringify(byStatus)}); ` +
          `e.g. ${stuck.slice(0, 10).map((id) => `${id}=${all.get(id)?.status ?? 'missing'}`).join(', ')}`,
      );
    }
    await delay(100); // polling interval, not a wait for an event we could observe
  }
  const settledMs = FINAL_DEADLINE_MS - (deadline - Date.now());

  // Nothing open is left: every acknowledged message must be in the history, delivered.
  const all = await listAll(second.base);
  const missing = [...acked.keys()].filter((id) => !all.has(id));
  assert.deepEqual(missing.slice(0, 20), [], `${missing.length} acknowledged messages are missing after the restart`);
  const notDelivered = [...acked.keys()].filter((id) => all.get(id)!.status !== 'delivered');
  assert.deepEqual(
    notDelivered.slice(0, 20).map((id) => `${id}=${all.get(id)!.status}`),
    [],
    `${notDelivered.length} acknowledged messages ended other than delivered`,
  );

  // Each one by id too, with its parts: they are what the sandbox's receipts matched.
  const details = new Map<string, ApiMessage>();
  const badReads: string[] = [];
  await pool([...acked.keys()], 16, async (id) => {
    const { status, body } = await getJson<ApiMessage>(second.base, `/v1/messages/${id}`);
    if (status !== 200) badReads.push(`${id} → ${status}`);
    else details.set(id, body);
  });
  assert.deepEqual(badReads.slice(0, 20), [], `${badReads.length} acknowledged messages do not read back with 200`);
  for (const [id, m] of details) {
    assert.equal(m.parts_count, partsOf(id), `${id}: parts_count changed from the 202 answer`);
    assert.equal(m.parts!.length, m.parts_count, `${id}: parts listed`);
    assert.ok(
      m.parts!.every((p) => p.status === 'delivered' && p.provider_message_id),
      `${id}: every part delivered with a provider id: ${JSON.stringify(m.parts)}`,
    );
  }

  // ---- nothing sent twice: the journal of both runs
  // The copy holds everything the first run wrote; on start the second run compacted the file to
  // the first run's unacknowledged sends (the same lines again) and appended its own.
  const before = parseJournal(readFileSync(journalBefore, 'utf8'), 'journal before the restart');
  const afterRun = parseJournal(readFileSync(journalFile, 'utf8'), 'journal after the restart');
  assert.equal(afterRun.torn, 0, 'the running server has no torn journal line');
  const keyOf = new Map<string, string>(); // providerId → key
  const providersOf = new Map<string, Set<string>>(); // key → providerIds
  let sendsBefore = 0;
  for (const [i, { lines }] of [before, afterRun].entries()) {
    for (const line of lines) {
      if (line.t !== 's') continue;
      if (i === 0) sendsBefore++;
      const known = keyOf.get(line.providerId);
      if (known !== undefined) {
        assert.equal(known, line.key, `provider id ${line.providerId} recorded for two keys`);
        continue; // the compacted copy of a first-run send
      }
      keyOf.set(line.providerId, line.key!);
      const set = providersOf.get(line.key!) ?? new Set<string>();
      set.add(line.providerId);
      providersOf.set(line.key!, set);
    }
  }
  assert.ok(sendsBefore > 0, 'the first run sent something before the kill');

  const twice = [...providersOf].filter(([, ids]) => ids.size > 1);
  assert.deepEqual(
    twice.slice(0, 20).map(([key, ids]) => `${key}: ${[...ids].join(', ')}`),
    [],
    `${twice.length} message parts were sent more than once by the sandbox`,
  );

  // Every journaled part belongs to a stored message and is within its parts.
  const sendsByMessage = new Map<string, Set<number>>();
  for (const key of providersOf.keys()) {
    const [id, index] = key.split(':') as [string, string];
    const set = sendsByMessage.get(id) ?? new Set<number>();
    set.add(Number(index));
    sendsByMessage.set(id, set);
  }
  for (const [id, indexes] of sendsByMessage) {
    const m = all.get(id);
    assert.ok(m, `the sandbox sent ${id}, which is not stored`);
    assert.ok(
      [...indexes].every((i) => Number.isInteger(i) && i >= 1 && i <= m.parts_count),
      `${id}: sent parts ${[...indexes].join(',')} but the message has ${m.parts_count}`,
    );
  }

  // Every acknowledged message: exactly one send per part, and it is the one the store recorded.
  const wrongCount: string[] = [];
  for (const [id, m] of details) {
    for (const part of m.parts!) {
      const ids = providersOf.get(`${id}:${part.index}`);
      if (!ids || ids.size !== 1) wrongCount.push(`${id}:${part.index} sent ${ids?.size ?? 0} times`);
      else if (!ids.has(part.provider_message_id!)) wrongCount.push(`${id}:${part.index} stored ${part.provider_message_id}, journal has ${[...ids][0]}`);
    }
    if ((sendsByMessage.get(id)?.size ?? 0) !== m.parts_count) wrongCount.push(`${id}: ${sendsByMessage.get(id)?.size ?? 0} parts sent of ${m.parts_count}`);
  }
  assert.deepEqual(wrongCount.slice(0, 20), [], `${wrongCount.length} problems matching acknowledged parts to sandbox sends`);

  // How much of the crash path the run exercised: messages claimed again after the restart, and those of them the
  // sandbox had already accepted before the kill (a resubmit it must answer from its journal, not send again).
  const sentBefore = new Set(before.lines.filter((l) => l.t === 's').map((l) => l.key!.split(':')[0]!));
  const reclaimed = [...details.values()].filter((m) => m.attempts > 1);
  const resubmitted = reclaimed.filter((m) => sentBefore.has(m.id));
  t.diagnostic(`${reclaimed.length} acknowledged messages claimed again after the restart, ${resubmitted.length} of them already sent before the kill`);
  t.diagnostic(
    `restart: ${recovered} messages recovered from queued; ${sendsBefore} sends journaled before the kill (${before.torn} torn line); ` +
      `all final ${settledMs} ms after readiness (${polls} polls); ${all.size} messages stored, ${providersOf.size} distinct parts sent`,
  );

  // ---- clean stop of the second run
  second.child.kill('SIGTERM');
  const end = await second.exited;
  assert.equal(end.code, 0, `the second run did not shut down cleanly: ${JSON.stringify(end)}; stderr:\n${second.stderr.join('')}`);
}
