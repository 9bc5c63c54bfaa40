/**
 * Segments and the mailing runner through the HTTP API: a scheduled mailing
 * is run by the gateway (audience by segment, per-contact rendering, every
 * recipient once), its lifecycle verbs, throttle, recurring runs, statistics
 * and recipients, a test send, auto-pause on errors; and a gateway killed in
 * the middle of a mailing resumes it without sending anyone a second message
 * (on SQLite and on PostgreSQL, each a separate server process).
 * (Clock-driven cases, local time and quiet hours, are in src/pipeline/mailings.test.ts.)
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createDatabase } from './cluster-nodes.ts';
import { dialects, startTestGateway, type DialectName, type TestGateway, freePort, until } from './helpers.ts';

/** Resolves once `check` returns a value that is not undefined; the condition is looked at every 20 ms until the deadline. */
const phone = (i: number) => `+7916${String(10_000_000 + i).slice(1)}`;

for (const dialect of await dialects()) {
  describe(`segments and mailings on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let other: { accountId: string; apiKey: string };
    let project: { id: string; code: string };
    let template: { id: string };
    const call = async (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown, key = t.apiKey) => {
      const res = await t.gateway.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      return { status: res.statusCode, body: res.body === '' ? null : res.json() };
    };
    const importCsv = async (projectId: string, csv: string) => {
      const res = await t.gateway.app.inject({ method: 'POST', url: `/v1/contacts/import?project_id=${projectId}`, headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'text/csv' }, payload: csv });
      assert.equal(res.statusCode, 200, res.body);
    };
    const newProject = async (code: string, rows: string[]) => {
      const p = (await call('POST', '/v1/projects', { name: code, code })).body;
      await importCsv(p.id, ['guid,first_name,phone,gender,city,consent.sms', ...rows].join('\n'));
      const tpl = (await call('POST', '/v1/templates', { project_id: p.id, channel: 'sms', name: 't', text: 'Здравствуйте, {{first_name}}!', text_male: 'Уважаемый {{first_name}}!', text_female: 'Уважаемая {{first_name}}!' })).body;
      return { project: p, template: tpl };
    };
    const messagesOf = (mailingId: string) => t.gateway.database.db.selectFrom('messages').selectAll().where('mailing_id', '=', mailingId).execute();
    const mailing = async (id: string) => (await call('GET', `/v1/mailings/${id}`)).body;
    const waitStatus = (id: string, statuses: string[], timeoutMs?: number) => until(`mailing ${id} ${statuses.join('|')}`, async () => {
      const m = await mailing(id);
      return statuses.includes(m.status) ? m : undefined;
    }, timeoutMs);

    before(async () => {
      t = await startTestGateway(dialect.name);
      other = await t.makeAccount('Other');
      const made = await newProject('SEG', [
        'g1,Анна,+79161110011,f,Москва,1',
        'g2,Пётр,+79161110012,m,Москва,1',
        'g3,Олег,+79161110013,m,Казань,1',
        'g4,Мария,+79161110014,f,Москва,0',
        'g5,Иван,+79161110015,m,москва,1',
      ]);
      project = made.project;
      template = made.template;
    });
    after(async () => t?.close());

    test('segments: CRUD, a count and preview, a bad filter named, tenant-scoped', async () => {
      const filter = { conditions: [{ field: 'attributes.city', op: 'eq', value: 'Москва' }], consent: 'sms' };
      const created = await call('POST', '/v1/segments', { project_id: project.id, name: 'msk', filter });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual(created.body.filter, filter);
      const preview = await call('GET', `/v1/segments/${created.body.id}/preview?sample=2`);
      assert.equal(preview.body.count, 3, 'Москва with consent, case-insensitive: Анна, Пётр, Иван');
      assert.equal(preview.body.sample.length, 2);
      const bad = await call('POST', '/v1/segments', { project_id: project.id, name: 'x', filter: { conditions: [{ field: 'city', op: 'eq', value: 'x' }] } });
      assert.deepEqual([bad.status, bad.body.error.code, bad.body.error.details[0].field], [422, 'invalid_segment_filter', 'filter.conditions[0].field']);
      assert.equal((await call('POST', '/v1/segments', { project_id: 'prj_nope', name: 'x', filter })).body.error.code, 'unknown_project');
      const renamed = await call('PATCH', `/v1/segments/${created.body.id}`, { name: 'Moscow' });
      assert.equal(renamed.body.name, 'Moscow');
      assert.deepEqual((await call('GET', `/v1/segments?project_id=${project.id}`)).body.data.map((s: { id: string }) => s.id), [created.body.id]);
      assert.equal((await call('GET', `/v1/segments/${created.body.id}`, undefined, other.apiKey)).status, 404);
      assert.equal((await call('DELETE', `/v1/segments/${created.body.id}`, undefined, other.apiKey)).status, 404);
      const gone = await call('POST', '/v1/segments', { project_id: project.id, name: 'tmp', filter: { conditions: [] } });
      assert.equal((await call('DELETE', `/v1/segments/${gone.body.id}`)).status, 204);
      assert.equal((await call('GET', `/v1/segments/${gone.body.id}`)).status, 404);
    });

    test('deleting a template or list a mailing names: a finished or cancelled one holds neither; a live one keeps its list (409) and is cancelled with its template', async () => {
      const tpl = (await call('POST', '/v1/templates', { project_id: project.id, channel: 'sms', name: 'del', text: 'Привет' })).body;
      const list = (await call('POST', '/v1/contact-lists', { project_id: project.id, name: 'del' })).body;
      const done = (await call('POST', '/v1/mailings', { project_id: project.id, template_id: tpl.id, list_id: list.id, name: 'old', channels: ['sms'] })).body;
      assert.equal((await call('POST', `/v1/mailings/${done.id}/cancel`)).status, 200);
      const live = (await call('POST', '/v1/mailings', { project_id: project.id, template_id: tpl.id, name: 'live', channels: ['sms'] })).body;
      const mapped = (await call('POST', '/v1/templates', { project_id: project.id, channel: 'sms', name: 'del2', text: 'Пока' })).body;
      const byMap = (await call('POST', '/v1/mailings', { project_id: project.id, template_id: template.id, templates: { sms: mapped.id }, list_id: list.id, name: 'map', channels: ['sms'] })).body;
      const kept = (await call('POST', '/v1/mailings', { project_id: project.id, template_id: template.id, name: 'kept', channels: ['sms'] })).body;
      const inUse = await call('DELETE', `/v1/contact-lists/${list.id}`);
      assert.deepEqual([inUse.status, inUse.body.error.code], [409, 'contact_list_in_use']);
      assert.equal((await call('DELETE', `/v1/templates/${tpl.id}`)).status, 204, 'named by a cancelled mailing and a draft');
      assert.equal((await call('DELETE', `/v1/templates/${mapped.id}`)).status, 204, 'named in a mailing\'s templates map');
      assert.deepEqual([(await mailing(live.id)).status, (await mailing(byMap.id)).status, (await mailing(kept.id)).status], ['cancelled', 'cancelled', 'draft']);
      assert.equal((await mailing(done.id)).template_id, tpl.id, 'a finished or cancelled mailing keeps the id it was made with');
      assert.equal((await call('DELETE', `/v1/contact-lists/${list.id}`)).status, 204, 'its mailings are cancelled now');
      assert.equal((await call('DELETE', `/v1/templates/${template.id}`, undefined, other.apiKey)).status, 404);
      await call('POST', `/v1/mailings/${kept.id}/cancel`);
    });

    test('a scheduled mailing to a segment runs: each matching contact gets its variant once, delivered; stats and recipients', async () => {
      const segment = (await call('POST', '/v1/segments', { project_id: project.id, name: 'msk2', filter: { conditions: [{ field: 'attributes.city', op: 'contains', value: 'моск' }], consent: 'sms' } })).body;
      const created = await call('POST', '/v1/mailings', { project_id: project.id, template_id: template.id, segment_id: segment.id, name: 'run', channels: ['sms', 'email'], start_at: new Date(Date.now() - 1000).toISOString(), traffic_type: 'service' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.status, 'draft');
      assert.equal((await call('DELETE', `/v1/segments/${segment.id}`)).body.error.code, 'segment_in_use');
      const scheduled = await call('POST', `/v1/mailings/${created.body.id}/schedule`);
      assert.equal(scheduled.body.status, 'scheduled');
      assert.ok(scheduled.body.next_run_at);
      const done = await waitStatus(created.body.id, ['finished']);
      assert.equal(done.run_number, 1);
      const msgs = await messagesOf(created.body.id);
      assert.deepEqual(msgs.map((m) => m.body).sort(), ['Уважаемая Анна!', 'Уважаемый Иван!', 'Уважаемый Пётр!']);
      assert.ok(msgs.every((m) => m.project === 'SEG' && m.channel === 'sms'), 'the first channel of the cascade order');
      await until('delivered', async () => ((await messagesOf(created.body.id)).every((m) => m.status === 'delivered') ? true : undefined));
      const stats = await call('GET', `/v1/mailings/${created.body.id}/stats`);
      assert.deepEqual([stats.body.recipients, stats.body.messages, stats.body.errors], [{ accepted: 3, skipped: 0 }, { delivered: 3 }, 0]);
      assert.deepEqual([stats.body.audience, stats.body.remaining], [3, 0], 'a segment\'s audience, known at its run\'s end');
      const recipients = await call('GET', `/v1/mailings/${created.body.id}/recipients?limit=2`);
      assert.equal(recipients.body.data.length, 2);
      assert.ok(recipients.body.next_cursor);
      const rest = await call('GET', `/v1/mailings/${created.body.id}/recipients?limit=2&cursor=${recipients.body.next_cursor}`);
      assert.deepEqual([...recipients.body.data, ...rest.body.data].map((r: { message_status: string }) => r.message_status), ['delivered', 'delivered', 'delivered']);
      assert.equal((await call('GET', `/v1/mailings/${created.body.id}/stats`, undefined, other.apiKey)).status, 404);
      assert.equal((await call('POST', `/v1/mailings/${created.body.id}/pause`)).status, 409, 'a finished mailing cannot be paused');
    });

    test('throttle, pause, resume and cancel: paused sends nothing more, resumed finishes with every contact once', async () => {
      const rows = Array.from({ length: 30 }, (_, i) => `t${i},Имя${i},${phone(200 + i)},m,Тверь,1`);
      const made = await newProject('THR', rows);
      const m = (await call('POST', '/v1/mailings', { project_id: made.project.id, template_id: made.template.id, name: 'slow', channels: ['sms'], start_at: new Date().toISOString(), throttle_per_second: 10, traffic_type: 'service' })).body;
      assert.equal(m.throttle_per_minute, 600);
      await call('POST', `/v1/mailings/${m.id}/schedule`);
      await until('some sent', async () => ((await messagesOf(m.id)).length >= 3 ? true : undefined));
      const paused = await call('POST', `/v1/mailings/${m.id}/pause`);
      assert.equal(paused.body.status, 'paused');
      const atPause = (await messagesOf(m.id)).length;
      const pausedStats = (await call('GET', `/v1/mailings/${m.id}/stats`)).body;
      assert.deepEqual([pausedStats.audience, pausedStats.remaining], [30, 30 - atPause], 'the project\'s 30, less those it went through');
      assert.ok(atPause < 30, `throttled: ${atPause} of 30 within the first moments`);
      // A page is written only while its run is running (checked in its transaction): nothing more comes while paused,
      // however many runner passes happen while what was sent gets delivered.
      await until('the sent ones delivered', async () => ((await messagesOf(m.id)).every((x) => x.status === 'delivered') ? true : undefined));
      assert.equal((await messagesOf(m.id)).length, atPause, 'nothing after the pause');
      const stopped = atPause;
      assert.equal((await call('POST', `/v1/mailings/${m.id}/resume`)).body.status, 'running');
      await waitStatus(m.id, ['finished']);
      const msgs = await messagesOf(m.id);
      assert.equal(msgs.length, 30);
      assert.equal(new Set(msgs.map((x) => x.recipient)).size, 30, 'every contact once');
      assert.ok(stopped < 30);

      const c = (await call('POST', '/v1/mailings', { project_id: made.project.id, template_id: made.template.id, name: 'cancel me', channels: ['sms'], start_at: new Date().toISOString(), throttle_per_minute: 120 })).body;
      await call('POST', `/v1/mailings/${c.id}/schedule`);
      await until('started', async () => ((await messagesOf(c.id)).length >= 1 ? true : undefined));
      assert.equal((await call('POST', `/v1/mailings/${c.id}/cancel`)).body.status, 'cancelled');
      assert.ok((await messagesOf(c.id)).length < 30);
    });

    test('recurring: a cron schedule runs again, each run reaching every contact once', async () => {
      const made = await newProject('REC', ['r1,Аня,+79162220011,f,Омск,1', 'r2,Боря,+79162220012,m,Омск,1']);
      const m = (await call('POST', '/v1/mailings', { project_id: made.project.id, template_id: made.template.id, name: 'every second', channels: ['sms'], schedule_cron: '* * * * * *', time_zone: 'Europe/Moscow', traffic_type: 'service' })).body;
      assert.equal(m.schedule_cron, '* * * * * *');
      assert.equal((await call('POST', '/v1/mailings', { project_id: made.project.id, template_id: made.template.id, name: 'bad', channels: ['sms'], schedule_cron: '61 * * * *' })).body.error.code, 'invalid_schedule');
      assert.equal((await call('POST', '/v1/mailings', { project_id: made.project.id, template_id: made.template.id, name: 'bad', channels: ['sms'], schedule_cron: '0 9 * * *', time_zone: 'Mars/Olympus' })).body.error.code, 'invalid_schedule');
      await call('POST', `/v1/mailings/${m.id}/schedule`);
      await until('two runs', async () => ((await mailing(m.id)).run_number >= 2 && (await mailing(m.id)).status === 'scheduled' ? true : undefined));
      assert.equal((await call('POST', `/v1/mailings/${m.id}/cancel`)).body.status, 'cancelled');
      const runs = await t.gateway.database.db.selectFrom('mailing_recipients').select(['run_number', 'contact_id']).where('mailing_id', '=', m.id).execute();
      const perRun = new Map<number, number>();
      for (const r of runs) perRun.set(r.run_number, (perRun.get(r.run_number) ?? 0) + 1);
      assert.ok(perRun.size >= 2);
      for (const [run, n] of perRun) if (run < Math.max(...perRun.keys())) assert.equal(n, 2, `run ${run}`);
      assert.equal((await messagesOf(m.id)).length, runs.length);
    });

    test('test send: the rendered text to chosen numbers at once, outside the mailing\'s statistics', async () => {
      const m = (await call('POST', '/v1/mailings', { project_id: project.id, template_id: template.id, name: 'draft', channels: ['sms'] })).body;
      const contact = (await call('GET', `/v1/contacts?project_id=${project.id}&guid=g1`)).body.data[0];
      const sent = await call('POST', `/v1/mailings/${m.id}/test`, { to: ['+79169990011', 'not a number'], contact_id: contact.id });
      assert.equal(sent.status, 200, JSON.stringify(sent.body));
      assert.equal(sent.body.text, 'Уважаемая Анна!');
      assert.equal(sent.body.messages[1].error.code, 'invalid_phone_number');
      const id = sent.body.messages[0].message_id;
      await until('delivered', async () => ((await call('GET', `/v1/messages/${id}`)).body.status === 'delivered' ? true : undefined));
      assert.equal((await call('GET', `/v1/messages/${id}`)).body.reference, `test:${m.id}`);
      assert.deepEqual((await call('GET', `/v1/mailings/${m.id}/stats`)).body.messages, {});
      assert.equal((await mailing(m.id)).status, 'draft');
      assert.equal((await call('POST', `/v1/mailings/${m.id}/test`, { to: ['+79169990011'] }, other.apiKey)).status, 404);
    });

    test('auto-pause: a mailing whose messages fail past its threshold is paused with the reason', async () => {
      // The sandbox operator refuses numbers ending in 0000 (undeliverable).
      const rows = Array.from({ length: 60 }, (_, i) => `u${i},Имя${i},+7916${String(100 + i).padStart(3, '0')}0000,m,Тула,1`);
      const made = await newProject('ERR', rows);
      const m = (await call('POST', '/v1/mailings', { project_id: made.project.id, template_id: made.template.id, name: 'bad list', channels: ['sms'], start_at: new Date().toISOString(), throttle_per_second: 10, error_threshold_percent: 50, error_min_sample: 5, traffic_type: 'service' })).body;
      await call('POST', `/v1/mailings/${m.id}/schedule`);
      const paused = await waitStatus(m.id, ['paused', 'finished'], 30_000);
      assert.deepEqual([paused.status, paused.paused_reason], ['paused', 'error_threshold']);
      const stats = (await call('GET', `/v1/mailings/${m.id}/stats`)).body;
      assert.ok(stats.errors >= 5, JSON.stringify(stats));
      assert.ok(stats.recipients.accepted < 60);
      assert.equal((await call('POST', `/v1/mailings/${m.id}/resume`)).body.paused_reason, null);
      await call('POST', `/v1/mailings/${m.id}/cancel`); // no more of it behind the next test
    });

    test('a priced account without money: the mailing is paused with insufficient_balance and sends nothing; a top-up and resume send it, reserved', async () => {
      const made = await newProject('PAY', ['p1,Анна,+79161110021,f,Москва,1', 'p2,Пётр,+79161110022,m,Москва,1']);
      // Priced for the demo account from now on (the last test of this gateway); the delivery side reads the list again at once.
      assert.equal((await call('PUT', '/v1/prices', { account_id: t.accountId, channel: 'sms', price: '1.00' })).status, 200);
      const m = (await call('POST', '/v1/mailings', { project_id: made.project.id, template_id: made.template.id, name: 'unpaid', channels: ['sms'], start_at: new Date().toISOString(), traffic_type: 'service' })).body;
      await call('POST', `/v1/mailings/${m.id}/schedule`);
      const paused = await waitStatus(m.id, ['paused', 'finished'], 30_000);
      assert.deepEqual([paused.status, paused.paused_reason], ['paused', 'insufficient_balance']);
      assert.deepEqual(await messagesOf(m.id), [], 'nothing half-sent');
      // A test send is paid like any message: refused without money.
      const unpaid = await call('POST', `/v1/mailings/${m.id}/test`, { to: ['+79161110023'] });
      assert.equal(unpaid.status, 200, JSON.stringify(unpaid.body));
      assert.deepEqual([unpaid.body.messages[0].message_id, unpaid.body.messages[0].error?.code], [null, 'insufficient_balance']);
      assert.equal((await call('POST', '/v1/balance/entries', { account_id: t.accountId, kind: 'top_up', amount: '5.00' })).status, 201);
      await call('POST', `/v1/mailings/${m.id}/resume`);
      await waitStatus(m.id, ['finished'], 30_000);
      const msgs = await messagesOf(m.id);
      assert.equal(msgs.length, 2);
      assert.ok(msgs.every((x) => Number(x.price_minor) === 100), 'priced like the API\'s messages');
      // Its own reserves, by message (other messages of this account may still be on their way).
      const entries = (await call('GET', '/v1/balance/entries?limit=100')).body.data as { kind: string; amount: string; message_id: string | null }[];
      const ids = new Set(msgs.map((x) => x.id));
      assert.deepEqual(entries.filter((e) => e.message_id !== null && ids.has(e.message_id) && e.kind === 'reserve').map((e) => e.amount), ['-1.00', '-1.00']);
      // With money, a test send is priced and reserved too.
      const paid = await call('POST', `/v1/mailings/${m.id}/test`, { to: ['+79161110023'] });
      const testId = paid.body.messages[0].message_id as string;
      assert.ok(testId, JSON.stringify(paid.body));
      assert.equal((await call('GET', `/v1/messages/${testId}`)).body.price, '1.00');
      await until('the test send reserved', async () => ((await call('GET', '/v1/balance/entries?limit=100')).body.data as { kind: string; message_id: string | null }[]).some((e) => e.message_id === testId && e.kind === 'reserve') || undefined);
      assert.equal((await call('PUT', '/v1/prices', { account_id: t.accountId, channel: 'sms', price: '0.00' })).status, 200);
    });
  });
}

// ---------------------------------------------------------------- crash

const ROOT = path.resolve(import.meta.dirname, '..');
const NODE = path.join(ROOT, 'node_modules', '.bin', 'node');
const API_KEY = 'mailing_crash_test_key_0123456789ab';
const CONTACTS = 400;
const children = new Set<ChildProcess>();
const dirs: string[] = [];

after(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    }
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});


/**
 * `node src/main.ts start` on the data directory (and on `databaseUrl`'s PostgreSQL database when given, SQLite in the
 * data directory otherwise); resolves with its base URL once it logged "depesha started" and /readyz is 200.
 */
async function startServer(dataDir: string, databaseUrl: string | undefined): Promise<{ child: ChildProcess; base: string; exited: Promise<unknown> }> {
  const port = await freePort();
  const child = spawn(NODE, ['src/main.ts', 'start'], {
    cwd: ROOT,
    // A clean environment: nothing from the caller (DATABASE_URL, DEPESHA_CONFIG…) leaks in; the database is the one named here.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? tmpdir(), DEPESHA_DATA_DIR: dataDir, PORT: String(port), SMPP_PORT: '0', HOST: '127.0.0.1', DEPESHA_BOOTSTRAP_API_KEY: API_KEY, LOG_LEVEL: 'info', DEPESHA_SANDBOX_RECEIPT_DELAY_MS: '20', DEPESHA_SQLITE_SYNCHRONOUS: 'full', ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const stderr: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within 60 s; stderr:\n${stderr.join('')}`)), 60_000);
    void exited.then(() => reject(new Error(`server exited before it started; stderr:\n${stderr.join('')}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('{') && line.includes('"depesha started"')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const base = `http://127.0.0.1:${port}`;
  await until('/readyz', async () => {
    try {
      return (await fetch(`${base}/readyz`)).status === 200 ? true : undefined;
    } catch {
      return undefined;
    }
  });
  return { child, base, exited };
}

/** Messages per recipient of the mailing and its recipients' count, read from the stopped server's store. */
async function mailingRows(dialect: DialectName, dataDir: string, databaseUrl: string | undefined, mailingId: string): Promise<{ perRecipient: { recipient: string; n: number }[]; recipients: number }> {
  if (dialect === 'sqlite') {
    const db = new DatabaseSync(path.join(dataDir, 'depesha.sqlite'), { readOnly: true });
    const perRecipient = db.prepare('SELECT recipient, count(*) AS n FROM messages WHERE mailing_id = ? GROUP BY recipient').all(mailingId) as { recipient: string; n: number }[];
    const recipients = db.prepare('SELECT count(*) AS n FROM mailing_recipients WHERE mailing_id = ?').get(mailingId) as { n: number };
    db.close();
    return { perRecipient, recipients: recipients.n };
  }
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const perRecipient = (await db.query<{ recipient: string; n: number }>('SELECT recipient, count(*)::int AS n FROM messages WHERE mailing_id = $1 GROUP BY recipient', [mailingId])).rows;
    const recipients = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM mailing_recipients WHERE mailing_id = $1', [mailingId])).rows[0]!.n;
    return { perRecipient, recipients };
  } finally {
    await db.end();
  }
}

for (const dialect of await dialects()) {
  describe(`a mailing survives a crash of the gateway on ${dialect.name}`, { skip: dialect.skip }, () => {
    test(`SIGKILL mid-mailing, restart: the run resumes and each of ${CONTACTS} contacts gets exactly one message`, async (ctx) => {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'depesha-mailing-crash-'));
      dirs.push(dataDir);
      // PostgreSQL: a database of its own (the server is another process: the per-suite schema of startTestGateway would not reach it).
      const database = dialect.name === 'postgres' ? await createDatabase() : undefined;
      if (database) ctx.after(() => database.drop());
      let server = await startServer(dataDir, database?.url);
      const api = async (method: string, url: string, body?: unknown, type = 'application/json') => {
        const res = await fetch(server.base + url, { method, headers: { authorization: `Bearer ${API_KEY}`, ...(body === undefined ? {} : { 'content-type': type }) }, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> & { id: string } };
      };
      const project = (await api('POST', '/v1/projects', { name: 'Crash', code: 'CR' })).body;
      const csv = ['guid,first_name,phone', ...Array.from({ length: CONTACTS }, (_, i) => `c${i},Имя${i},${phone(5000 + i)}`)].join('\n');
      assert.equal((await api('POST', `/v1/contacts/import?project_id=${project.id}`, csv, 'text/csv')).status, 200);
      const template = (await api('POST', '/v1/templates', { project_id: project.id, channel: 'sms', name: 't', text: 'Привет, {{first_name}}' })).body;
      const m = (await api('POST', '/v1/mailings', { project_id: project.id, template_id: template.id, name: 'crash', channels: ['sms'], start_at: new Date().toISOString(), throttle_per_second: 100, traffic_type: 'service' })).body;
      await api('POST', `/v1/mailings/${m.id}/schedule`);
      const accepted = async () => ((await api('GET', `/v1/mailings/${m.id}/stats`)).body.recipients as { accepted: number }).accepted;
      const atKill = await until('a part of the mailing sent', async () => {
        const n = await accepted();
        return n >= 60 ? n : undefined;
      });
      server.child.kill('SIGKILL');
      await server.exited;
      assert.ok(atKill < CONTACTS, `killed mid-mailing (${atKill} of ${CONTACTS})`);

      server = await startServer(dataDir, database?.url);
      await until('the mailing finished', async () => ((await api('GET', `/v1/mailings/${m.id}`)).body.status === 'finished' ? true : undefined), 60_000);
      server.child.kill('SIGTERM');
      await server.exited;

      const { perRecipient, recipients } = await mailingRows(dialect.name, dataDir, database?.url, m.id);
      assert.equal(perRecipient.length, CONTACTS, 'every contact got a message');
      assert.deepEqual(perRecipient.filter((r) => r.n !== 1), [], 'nobody got two');
      assert.equal(recipients, CONTACTS);
    });
  });
}
