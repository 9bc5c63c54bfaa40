import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { after, before, describe, test } from 'node:test';
import ExcelJS from 'exceljs';
import { startGateway } from '../src/gateway.ts';
import { createLogger } from '../src/log.ts';
import { ExportsRepository } from '../src/store/exports.ts';
import { UsersRepository, type UserRole } from '../src/store/users.ts';
import { setTimeout as delay } from 'node:timers/promises';
import { dialects, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';

/** Polls until `check` gives a value (the export runs in the background; its status is what the cabinet polls too). */
async function waitFor<T>(check: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await delay(25);
  }
}

const PASSWORD = 'correct horse battery';

for (const { name, skip } of await dialects()) {
  describe(`cabinet dashboard stats and background exports (${name})`, { skip }, () => {
    let t: TestGateway;
    before(async () => {
      t = await startTestGateway(name);
    });
    after(() => t?.close());

    const call = async (key: string, method: 'GET' | 'POST', url: string, payload?: object) => {
      const res = await t.gateway.app.inject({ method, url, headers: { authorization: `Bearer ${key}` }, ...(payload ? { payload } : {}) });
      return { status: res.statusCode, json: res.headers['content-type']?.toString().startsWith('application/json') ? res.json() : undefined, body: res.body, raw: res.rawPayload, headers: res.headers };
    };

    async function session(role: UserRole) {
      const email = `${role}-${Math.random().toString(36).slice(2, 8)}@example.com`;
      await new UsersRepository(t.gateway.database.db).create({ email, password: PASSWORD, role, accountId: t.accountId });
      const res = await t.gateway.app.inject({ method: 'POST', url: '/v1/sessions', payload: { email, password: PASSWORD } });
      const cookie = res.cookies.find((c) => c.name === 'depesha_session')!.value;
      const csrf = res.json().csrf_token as string;
      return (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
        t.gateway.app.inject({ method, url, cookies: { depesha_session: cookie }, headers: { 'x-csrf-token': csrf }, ...(payload ? { payload } : {}) });
    }

    async function sendAndSettle(tos: string[]): Promise<string[]> {
      const ids: string[] = [];
      for (const to of tos) {
        const r = await call(t.apiKey, 'POST', '/v1/messages', { to, text: `export ${to}` });
        assert.equal(r.status, 202, r.body);
        ids.push(r.json.id);
      }
      for (const id of ids) assert.equal(await waitForStatus(t.gateway, id, ['delivered']), 'delivered');
      return ids;
    }

    test('stats: today by status, channel and operator; throughput per minute with latencies', async () => {
      await sendAndSettle(['+79161231234', '+79161232345', '+79161233456']);
      const stats = await call(t.apiKey, 'GET', '/v1/stats/messages');
      assert.equal(stats.status, 200, stats.body);
      assert.ok(stats.json.total >= 3);
      assert.ok(stats.json.by_status.delivered >= 3);
      assert.ok(stats.json.by_channel.sms >= 3);
      assert.equal(Object.values(stats.json.by_operator as Record<string, number>).reduce((a, b) => a + b, 0), stats.json.total);
      const tp = await call(t.apiKey, 'GET', '/v1/stats/throughput?minutes=5');
      assert.equal(tp.status, 200, tp.body);
      assert.ok(tp.json.data.length >= 5 && tp.json.data.length <= 6, `one entry a minute: ${tp.json.data.length}`);
      const sum = (k: string) => (tp.json.data as Record<string, number>[]).reduce((a, m) => a + m[k]!, 0);
      assert.ok(sum('accepted') >= 3 && sum('delivered') >= 3);
      const busy = (tp.json.data as { accepted: number; delivery_latency_ms: number | null; submit_latency_ms: number | null }[]).filter((m) => m.accepted > 0);
      assert.ok(busy.every((m) => m.delivery_latency_ms !== null && m.delivery_latency_ms >= 0 && m.submit_latency_ms !== null));
      assert.equal((await call(t.apiKey, 'GET', '/v1/stats/throughput?minutes=5000')).status, 400);
      // Another account sees none of it.
      const other = await t.makeAccount('stats-other');
      const theirs = await call(other.apiKey, 'GET', '/v1/stats/throughput?minutes=5');
      assert.equal((theirs.json.data as { accepted: number }[]).reduce((a, m) => a + m.accepted, 0), 0);
    });

    test('a background CSV export becomes ready with every matching row; the file is the account\'s only', async () => {
      await sendAndSettle(['+79165551111', '+79165552222']);
      const created = await call(t.apiKey, 'POST', '/v1/exports', { format: 'csv', to: '+79165551111' });
      assert.equal(created.status, 202, created.body);
      assert.equal(created.json.object, 'export');
      assert.equal(created.json.download_url, null);
      const id = created.json.id as string;
      const ready = await waitFor(async () => {
        const r = await call(t.apiKey, 'GET', `/v1/exports/${id}`);
        return r.json.status === 'ready' || r.json.status === 'failed' ? r.json : undefined;
      });
      assert.equal(ready.status, 'ready', ready.error);
      assert.equal(ready.rows, 1);
      assert.equal(ready.download_url, `/v1/exports/${id}/file`);
      const file = await call(t.apiKey, 'GET', ready.download_url);
      assert.equal(file.status, 200);
      assert.match(String(file.headers['content-disposition']), /attachment; filename="messages-\d{8}T\d{6}\.csv"/);
      const lines = file.body.trim().split('\n');
      assert.equal(lines.length, 2);
      assert.match(lines[0]!, /^id,created_at,to,operator/);
      assert.match(lines[1]!, /\+79165551111,.*export \+79165551111/);
      assert.equal(Number(file.headers['content-length']), ready.bytes);
      // The file is in the database, not on this node's disk; it expires after the retention time (default 7 days).
      const chunks = await t.gateway.database.db.selectFrom('export_chunks').select('seq').where('export_id', '=', id).execute();
      assert.deepEqual(chunks.map((c) => c.seq), [0]);
      const expiresIn = Date.parse(ready.expires_at) - Date.parse(ready.completed_at);
      assert.equal(expiresIn, 168 * 3_600_000);
      // Listed, newest first.
      const list = await call(t.apiKey, 'GET', '/v1/exports');
      assert.equal(list.json.data[0].id, id);
      // Tenant-scoped: another account can neither see nor download it.
      const other = await t.makeAccount('exports-other');
      assert.equal((await call(other.apiKey, 'GET', `/v1/exports/${id}`)).status, 404);
      assert.equal((await call(other.apiKey, 'GET', `/v1/exports/${id}/file`)).status, 404);
      assert.equal((await call(other.apiKey, 'GET', '/v1/exports')).json.data.length, 0);
      // Unauthenticated: refused.
      assert.equal((await t.gateway.app.inject({ method: 'GET', url: `/v1/exports/${id}/file` })).statusCode, 401);
    });

    test('an XLSX export holds the same rows in a worksheet', async () => {
      const created = await call(t.apiKey, 'POST', '/v1/exports', { format: 'xlsx', to: '+79165552222' });
      assert.equal(created.status, 202, created.body);
      const ready = await waitFor(async () => {
        const r = await call(t.apiKey, 'GET', `/v1/exports/${created.json.id}`);
        return r.json.status === 'ready' || r.json.status === 'failed' ? r.json : undefined;
      });
      assert.equal(ready.status, 'ready', ready.error);
      const file = await call(t.apiKey, 'GET', ready.download_url);
      const book = new ExcelJS.Workbook();
      await book.xlsx.load(file.raw as unknown as ArrayBuffer);
      const sheet = book.getWorksheet('messages')!;
      assert.equal(sheet.getRow(1).getCell(1).value, 'id');
      assert.equal(sheet.getRow(2).getCell(3).value, '+79165552222');
      assert.equal(sheet.actualRowCount, 2);
    });

    test('a ready file expires: the export says expired, the download answers 410 and the sweep deletes its chunks', async () => {
      const created = await call(t.apiKey, 'POST', '/v1/exports', { format: 'csv' });
      const ready = await waitFor(async () => {
        const r = await call(t.apiKey, 'GET', `/v1/exports/${created.json.id}`);
        return r.json.status === 'ready' || r.json.status === 'failed' ? r.json : undefined;
      });
      assert.equal(ready.status, 'ready', ready.error);
      const db = t.gateway.database.db;
      // Its retention time passes.
      await db.updateTable('exports').set({ expires_at: Date.now() - 1 }).where('id', '=', ready.id).execute();
      const shown = await call(t.apiKey, 'GET', `/v1/exports/${ready.id}`);
      assert.equal(shown.json.status, 'expired');
      assert.equal(shown.json.download_url, null);
      const gone = await call(t.apiKey, 'GET', `/v1/exports/${ready.id}/file`);
      assert.equal(gone.status, 410);
      assert.equal(gone.json.error.code, 'export_expired');
      assert.ok((await db.selectFrom('export_chunks').select('seq').where('export_id', '=', ready.id).execute()).length > 0);
      // The sweep (every minute on every API node) deletes the file and keeps the job as expired.
      const jobs = new ExportsRepository(db);
      assert.ok((await jobs.purgeExpired()) >= 1);
      assert.equal((await db.selectFrom('export_chunks').select('seq').where('export_id', '=', ready.id).execute()).length, 0);
      assert.equal((await db.selectFrom('exports').select('status').where('id', '=', ready.id).executeTakeFirstOrThrow()).status, 'expired');
      assert.equal((await call(t.apiKey, 'GET', `/v1/exports/${ready.id}/file`)).status, 410);
    });

    test('another API node on the same database serves a ready file and fails only jobs whose lease lapsed', async () => {
      await sendAndSettle(['+79165553333']);
      const created = await call(t.apiKey, 'POST', '/v1/exports', { format: 'csv', to: '+79165553333' });
      const ready = await waitFor(async () => {
        const r = await call(t.apiKey, 'GET', `/v1/exports/${created.json.id}`);
        return r.json.status === 'ready' || r.json.status === 'failed' ? r.json : undefined;
      });
      assert.equal(ready.status, 'ready', ready.error);
      const db = t.gateway.database.db;
      const now = Date.now();
      const job = (id: string, leaseUntil: number | null) => ({
        id, account_id: t.accountId, format: 'csv', filters: '{}', status: 'running', rows: 0, bytes: null, error: null,
        created_by: null, created_at: now, completed_at: null, owner: 'another-node', lease_until: leaseUntil, expires_at: null,
      });
      // A job another live node is writing (its lease is current), and one of a node that died (lease lapsed).
      await db.insertInto('exports').values([job('exp_01KBLIVE000000000000000000', now + 60_000), job('exp_01KBDEAD000000000000000000', now - 1)]).execute();
      const schema = name === 'postgres' ? (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]!.s : undefined;
      // On PostgreSQL the second node has a data directory of its own (a node on another machine); SQLite's database is a file in it.
      const config = schema ? { ...t.config, dataDir: mkdtempSync(path.join(tmpdir(), 'depesha-node2-')), secretKey: readFileSync(path.join(t.config.dataDir, 'secret.key'), 'utf8').trim() } : t.config;
      const second = await startGateway(config, { log: createLogger('silent'), listen: false, print: () => {}, pollMs: 50, smpp: false, ...(schema ? { pgSchema: schema } : {}) });
      try {
        const file = await second.app.inject({ method: 'GET', url: ready.download_url, headers: { authorization: `Bearer ${t.apiKey}` } });
        assert.equal(file.statusCode, 200);
        assert.match(file.body, /\+79165553333,.*export \+79165553333/);
        const status = async (id: string) => (await db.selectFrom('exports').select(['status', 'error']).where('id', '=', id).executeTakeFirstOrThrow());
        assert.equal((await status('exp_01KBLIVE000000000000000000')).status, 'running');
        const dead = await status('exp_01KBDEAD000000000000000000');
        assert.equal(dead.status, 'failed');
        assert.match(dead.error!, /stopped/);
      } finally {
        await second.close();
        if (config !== t.config) rmSync(config.dataDir, { recursive: true, force: true });
        await db.deleteFrom('exports').where('id', '=', 'exp_01KBLIVE000000000000000000').execute();
      }
    });

    test('bad filters are refused at once; every role may export, none may read another account', async () => {
      const bad = await call(t.apiKey, 'POST', '/v1/exports', { format: 'csv', to: 'not a number' });
      assert.equal(bad.status, 422, bad.body);
      assert.equal(bad.json.error.code, 'invalid_phone_number');
      const period = await call(t.apiKey, 'POST', '/v1/exports', { format: 'csv', since: '2026-12-02T00:00:00Z', until: '2026-12-01T00:00:00Z' });
      assert.equal(period.json.error.code, 'invalid_period');
      assert.equal((await call(t.apiKey, 'POST', '/v1/exports', { format: 'pdf' })).status, 400);
      for (const role of ['owner', 'manager', 'viewer'] as const) {
        const as = await session(role);
        const res = await as('POST', '/v1/exports', { format: 'csv', status: 'delivered' });
        assert.equal(res.statusCode, 202, `${role}: ${res.body}`);
        assert.equal((await as('GET', `/v1/exports/${res.json().id}`)).statusCode, 200);
        // The stats are readable by every role too.
        assert.equal((await as('GET', '/v1/stats/throughput')).statusCode, 200);
      }
    });
    test('connector types: each manifest with where its fields go, for the platform only; account roles are refused', async () => {
      const res = await call(t.apiKey, 'GET', '/v1/connector-types');
      assert.equal(res.status, 200, res.body);
      const types = res.json.data as { type: string; fields: { name: string; in: string; type: string }[] }[];
      assert.deepEqual(types.map((m) => m.type).sort(), ['email', 'http', 'sandbox', 'smpp', 'telegram_bot', 'telegram_gateway', 'voice', 'whatsapp']);
      assert.equal(types.find((m) => m.type === 'smpp')!.fields.find((f) => f.name === 'password')!.in, 'definition');
      assert.equal(types.find((m) => m.type === 'telegram_bot')!.fields.find((f) => f.name === 'bot_token')!.in, 'secrets');
      assert.equal(types.find((m) => m.type === 'email')!.fields.find((f) => f.name === 'username')!.in, 'secrets');
      const account = await t.makeAccount('types-other');
      assert.equal((await call(account.apiKey, 'GET', '/v1/connector-types')).status, 403);
      for (const role of ['owner', 'manager', 'viewer'] as const) {
        const as = await session(role);
        const refused = await as('GET', '/v1/connector-types');
        assert.equal(refused.statusCode, 403, role);
        assert.equal(refused.json().error.code, 'forbidden');
      }
      for (const role of ['administrator', 'staff'] as const) {
        const email = `${role}-${Math.random().toString(36).slice(2, 8)}@example.com`;
        await new UsersRepository(t.gateway.database.db).create({ email, password: PASSWORD, role, accountId: null });
        const signed = await t.gateway.app.inject({ method: 'POST', url: '/v1/sessions', payload: { email, password: PASSWORD } });
        const cookie = signed.cookies.find((c) => c.name === 'depesha_session')!.value;
        assert.equal((await t.gateway.app.inject({ method: 'GET', url: '/v1/connector-types', cookies: { depesha_session: cookie } })).statusCode, 200, role);
      }
    });
  });
}
