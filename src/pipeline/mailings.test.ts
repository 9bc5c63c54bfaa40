import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../log.ts';
import { AccountsRepository } from '../store/accounts.ts';
import { ContactsRepository, normalizeContact, type ContactInput } from '../store/contacts.ts';
import { openDatabase, type Database } from '../store/db.ts';
import { MailingsRepository, type MailingInput } from '../store/mailings.ts';
import { ProjectsRepository } from '../store/projects.ts';
import { SegmentsRepository } from '../store/segments.ts';
import { TemplatesRepository } from '../store/templates.ts';
import { WriteBatcher } from '../store/write-batcher.ts';
import { AcceptWriter, type AcceptJob } from './accept.ts';
import { MailingRunner, overErrorThreshold, refill, stepTexts } from './mailings.ts';
import type { TemplateRow } from '../store/templates.ts';
import type { ContactFields } from '../domain/templates.ts';

const log = createLogger('silent');
const T0 = Date.parse('2026-12-02T09:00:00Z');

/** A fresh store with an account, a project, a gendered template and contacts; a runner on a hand-moved clock. */
async function setup(contacts: ContactInput[], mailing: Partial<MailingInput> = {}, runnerOptions: { pageSize?: number; errorCheckMs?: number } = {}) {
  const database: Database = await openDatabase({ sqlitePath: ':memory:' });
  await database.migrate();
  const db = database.db;
  const accounts = new AccountsRepository(db);
  const account = await accounts.createAccount({ name: 'A', defaultRegion: 'RU', defaultTtlSeconds: 86400, maxParts: 10 }, T0 - 1000);
  const project = await new ProjectsRepository(db).create(account.id, { name: 'P', code: 'OCM' }, T0 - 1000);
  const template = await new TemplatesRepository(db).create(account.id, { project_id: project.id, channel: 'sms', name: 't', text: 'Здравствуйте, {{first_name}}!', text_male: 'Уважаемый {{first_name}}!', text_female: 'Уважаемая {{first_name}}!' }, T0 - 1000);
  const repo = new ContactsRepository(db);
  const ids: string[] = [];
  for (const c of contacts) {
    const n = normalizeContact(c, 'RU');
    assert.ok(n.ok);
    ids.push((await repo.create(account.id, project.id, n.patch, T0 - 1000)).id);
  }
  const mailings = new MailingsRepository(db);
  const m = await mailings.create(account.id, { project_id: project.id, template_id: template.id, list_id: null, name: 'M', channels: ['sms'], status: 'scheduled', start_at: T0, throttle_per_minute: null, ...mailing }, T0 - 1000);
  const clock = { now: T0 };
  const writer = new AcceptWriter(new WriteBatcher(db));
  const accepted: AcceptJob[] = [];
  const accept = async (job: AcceptJob) => {
    await writer.write(job);
    accepted.push(job);
  };
  const runner = (pageSize = runnerOptions.pageSize ?? 500) => new MailingRunner(db, accept, log, { now: () => clock.now, pageSize, errorCheckMs: runnerOptions.errorCheckMs ?? 1000 });
  const messages = () => db.selectFrom('messages').selectAll().where('mailing_id', '=', m.id).orderBy('id').execute();
  const status = async () => (await mailings.get(account.id, m.id))!;
  return { database, db, account, accounts, project, template, ids, mailing: m, mailings, clock, runner, messages, status, accepted };
}

const phone = (i: number) => `+7916${String(10_000_000 + i).slice(1)}`;
const people = (n: number, over: (i: number) => Partial<ContactInput> = () => ({})): ContactInput[] =>
  Array.from({ length: n }, (_, i) => ({ first_name: `Имя${i}`, gender: i % 2 === 0 ? 'male' : 'female', phones: [phone(i)], ...over(i) }));

test('a scheduled mailing starts at its time, renders each contact\'s variant, skips the blocked and refused, and finishes', async () => {
  const s = await setup([...people(4), { first_name: 'Блок', phones: [phone(90)], blocked: true }, { first_name: 'Нет', phones: [phone(91)], consent: { sms: false } }, { first_name: 'Без номера', emails: ['a@example.com'] }]);
  const r = s.runner();
  s.clock.now = T0 - 1;
  await r.tick();
  assert.equal((await s.status()).status, 'scheduled', 'not before start_at');
  s.clock.now = T0;
  await r.tick();
  const m = await s.status();
  assert.equal(m.status, 'finished');
  assert.equal(m.run_number, 1);
  const msgs = await s.messages();
  assert.deepEqual(msgs.map((x) => x.body).sort(), ['Уважаемая Имя1!', 'Уважаемая Имя3!', 'Уважаемый Имя0!', 'Уважаемый Имя2!']);
  assert.ok(msgs.every((x) => x.project === 'OCM' && x.channel === 'sms' && x.traffic_type === 'advertising'));
  const stats = await s.mailings.stats(s.account.id, m);
  assert.deepEqual(stats.recipients, { accepted: 4, skipped: 3 });
  const skipped = (await s.mailings.recipients(s.account.id, m.id, 1, { afterId: '', limit: 100 })).filter((x) => x.status === 'skipped').map((x) => x.reason).sort();
  assert.deepEqual(skipped, ['blocked', 'no_address', 'no_consent']);
  await s.database.close();
});

test('throttle: one message per second at 60 a minute, and a stalled runner does not burst', async () => {
  const s = await setup(people(20), { throttle_per_minute: 60 });
  const r = s.runner();
  await r.tick();
  assert.equal((await s.messages()).length, 1, 'the first second\'s message');
  for (let i = 1; i <= 5; i++) {
    s.clock.now = T0 + i * 1000;
    await r.tick();
  }
  assert.equal((await s.messages()).length, 6);
  await r.tick();
  assert.equal((await s.messages()).length, 6, 'no time passed, nothing more');
  s.clock.now += 60_000;
  await r.tick();
  assert.equal((await s.messages()).length, 7, 'a minute\'s pause gives one second\'s worth, not a minute\'s');
  assert.equal((await s.status()).status, 'running');
  await s.database.close();
});

test('throttle refill and error threshold arithmetic', () => {
  assert.equal(refill(0, 500, 600), 5);
  assert.equal(refill(0, 60_000, 600), 10, 'capped at a second\'s worth');
  assert.equal(refill(0, 1000, 30), 0.5);
  assert.equal(refill(0, 10_000, 30), 1, 'at least one');
  assert.equal(overErrorThreshold(10, 50, 20, 50), true);
  assert.equal(overErrorThreshold(9, 50, 20, 50), false);
  assert.equal(overErrorThreshold(40, 40, 20, 50), false, 'too few finished yet');
});

test('step texts: each step its channel\'s template in the contact\'s variant, a shared template rendered once, a failure for that step only', () => {
  const row = (id: string, channel: string, text: string, text_female: string | null = null): TemplateRow => ({ id, account_id: 'acc', number: 1, project_id: 'prj', channel, name: id, text, text_male: null, text_female, created_at: 0, updated_at: 0 });
  const tg = row('tpl_tg', 'telegram', 'TG {{first_name}} {{promo}}');
  const sms = row('tpl_sms', 'sms', 'SMS {{first_name}}', 'SMS для {{first_name}}');
  const asked: string[] = [];
  const templateOf = (channel: string) => {
    asked.push(channel);
    return channel === 'telegram' ? tg : sms;
  };
  const olga: ContactFields = { first_name: 'Ольга', last_name: null, middle_name: null, gender: 'female', phones: [], emails: [], time_zone: null, guid: null, attributes: {} };
  const texts = stepTexts([{ channel: 'telegram' }, { channel: 'sms' }, { channel: 'viber' }], templateOf, olga);
  assert.deepEqual(texts.map((r) => (r.ok ? r.text : 'failed')), ['failed', 'SMS для Ольга', 'SMS для Ольга']);
  assert.ok(texts[1] === texts[2], 'the template shared by sms and viber rendered once');
  assert.deepEqual(asked, ['telegram', 'sms', 'viber']);
  const withPromo = stepTexts([{ channel: 'telegram' }, { channel: 'sms' }], templateOf, { ...olga, gender: null, attributes: { promo: 'NY' } });
  assert.deepEqual(withPromo.map((r) => (r.ok ? r.text : 'failed')), ['TG Ольга NY', 'SMS Ольга']);
});

test('local time: the run starts when 09:00 first comes, each recipient is due at 09:00 their time, quiet hours respected', async () => {
  const nominal = Date.parse('2026-12-03T09:00:00+03:00');
  const s = await setup(
    [
      { first_name: 'Vl', phones: [phone(1)], time_zone: 'Asia/Vladivostok' },
      { first_name: 'Ms', phones: [phone(2)], time_zone: 'Europe/Moscow' },
      { first_name: 'Kl', phones: [phone(3)], time_zone: 'Europe/Kaliningrad' },
    ],
    { start_at: nominal, local_time: true, time_zone: 'Europe/Moscow', next_run_at: Date.parse('2026-12-03T09:00:00+14:00') },
  );
  // quiet hours 08:00–09:30: 09:00 local falls inside, so each goes at 09:30 local
  await s.accounts.updateSettings(s.account.id, { quiet_hours_start: '08:00', quiet_hours_end: '09:30' });
  const r = s.runner();
  s.clock.now = Date.parse('2026-12-03T09:00:00+14:00') - 1;
  await r.tick();
  assert.equal((await s.status()).status, 'scheduled');
  s.clock.now += 1;
  await r.tick();
  const due = Object.fromEntries((await s.messages()).map((x) => [x.body, new Date(x.due_at).toISOString()]));
  assert.deepEqual(due, {
    'Здравствуйте, Vl!': new Date(Date.parse('2026-12-03T09:30:00+10:00')).toISOString(),
    'Здравствуйте, Ms!': new Date(Date.parse('2026-12-03T09:30:00+03:00')).toISOString(),
    'Здравствуйте, Kl!': new Date(Date.parse('2026-12-03T09:30:00+02:00')).toISOString(),
  });
  assert.equal((await s.status()).status, 'finished');
  await s.database.close();
});

test('recurring: after a run the mailing waits for the next cron occurrence, and the next run sends again', async () => {
  const s = await setup(people(3), { schedule_cron: '0 12 * * *', time_zone: 'Europe/Moscow', start_at: null, next_run_at: T0 });
  const r = s.runner();
  await r.tick();
  let m = await s.status();
  assert.equal(m.status, 'scheduled');
  assert.equal(m.run_number, 1);
  // T0 is 12:00 in Moscow: the next occurrence is tomorrow's
  assert.equal(m.next_run_at, Date.parse('2026-12-03T12:00:00+03:00'));
  assert.equal((await s.messages()).length, 3);
  s.clock.now = Date.parse('2026-12-03T12:00:00+03:00') - 1;
  await r.tick();
  assert.equal((await s.status()).run_number, 1, 'not before its time');
  s.clock.now += 1;
  await r.tick();
  m = await s.status();
  assert.equal(m.run_number, 2);
  assert.equal(m.next_run_at, Date.parse('2026-12-04T12:00:00+03:00'));
  assert.equal((await s.messages()).length, 6, 'each contact once per run');
  await s.database.close();
});

test('a segment audience: only matching contacts with consent get the message', async () => {
  const s = await setup(people(6, (i) => ({ attributes: { city: i < 3 ? 'Москва' : 'Казань', age: 20 + i }, consent: i === 1 ? { sms: false } : { sms: true } })), { status: 'draft' });
  const segment = await new SegmentsRepository(s.db).create(s.account.id, { project_id: s.project.id, name: 'msk', filter: { conditions: [{ field: 'attributes.city', op: 'eq', value: 'москва' }], consent: 'sms' } });
  assert.deepEqual((await new SegmentsRepository(s.db).count(s.account.id, segment, 10, 2)).count, 2);
  await s.db.updateTable('mailings').set({ segment_id: segment.id, status: 'scheduled', next_run_at: T0 }).where('id', '=', s.mailing.id).execute();
  const r = s.runner(2);
  for (let i = 0; i < 10 && (await s.status()).status !== 'finished'; i++) await r.tick();
  assert.deepEqual((await s.messages()).map((x) => x.body).sort(), ['Уважаемый Имя0!', 'Уважаемый Имя2!']);
  assert.equal((await s.status()).status, 'finished');
  await s.database.close();
});

test('auto-pause: when the errors of finished messages pass the threshold the mailing is paused with the reason', async () => {
  const s = await setup(people(12), { error_threshold_percent: 50, error_min_sample: 4 }, { pageSize: 4, errorCheckMs: 1000 });
  const r = s.runner();
  await r.tick();
  assert.equal((await s.messages()).length, 4);
  // the operator refuses three of the four
  const first = (await s.messages()).slice(0, 3).map((x) => x.id);
  await s.db.updateTable('messages').set({ status: 'undelivered' }).where('id', 'in', first).execute();
  await s.db.updateTable('messages').set({ status: 'delivered' }).where('mailing_id', '=', s.mailing.id).where('status', '=', 'accepted').execute();
  s.clock.now += 1000;
  await r.tick();
  const m = await s.status();
  assert.deepEqual([m.status, m.paused_reason], ['paused', 'error_threshold']);
  assert.equal((await s.messages()).length, 4, 'nothing more after the pause');
  await s.database.close();
});

test('crash: a new runner resumes after the last written recipient; a page already written cannot be written again', async () => {
  const s = await setup(people(10), {}, { pageSize: 3 });
  const first = s.runner(3);
  await first.tick();
  await first.tick();
  assert.equal((await s.messages()).length, 6);
  // a page the first runner had ready when it died, written again: refused whole by the recipients' primary key
  const replay = s.accepted[1]!;
  await assert.rejects(new AcceptWriter(new WriteBatcher(s.db)).write({ ...replay, messages: replay.messages.map((x) => ({ ...x, id: `${x.id.slice(0, -1)}Z` })) }));
  assert.equal((await s.messages()).length, 6, 'the replay wrote no message');
  const second = s.runner(3);
  await second.tick();
  await second.tick();
  const msgs = await s.messages();
  assert.equal(msgs.length, 10);
  assert.equal(new Set(msgs.map((x) => x.recipient)).size, 10, 'each contact exactly once');
  assert.equal((await s.status()).status, 'finished');
  await s.database.close();
});

test('a page is not written once the mailing was paused or cancelled before it committed', async () => {
  const s = await setup(people(3), {}, { pageSize: 3 });
  await s.mailings.transition(s.account.id, s.mailing.id, 'cancel');
  await s.db.updateTable('mailings').set({ status: 'running', run_number: 1 }).where('id', '=', s.mailing.id).execute();
  // the runner reads it running; a client pauses it just before the page commits
  const writePaused = new MailingRunner(s.db, async (job) => {
    await s.mailings.transition(s.account.id, s.mailing.id, 'pause');
    await new AcceptWriter(new WriteBatcher(s.db)).write(job);
  }, log, { now: () => s.clock.now });
  await writePaused.tick();
  assert.equal((await s.messages()).length, 0);
  assert.equal((await s.status()).status, 'paused');
  await s.database.close();
});

test('several channels: a recipient\'s cascade has its first step due at their local time and its timer a step timeout later; the throttle counts recipients, not rows', async () => {
  const nominal = Date.parse('2026-12-03T09:00:00+03:00');
  const s = await setup(
    [
      { first_name: 'Vl', phones: [phone(1)], emails: ['vl@example.org'], time_zone: 'Asia/Vladivostok' },
      { first_name: 'Ms', phones: [phone(2)], emails: ['ms@example.org'], time_zone: 'Europe/Moscow' },
      { first_name: 'Sms', phones: [phone(3)], time_zone: 'Europe/Moscow' },
    ],
    { channels: ['email', 'sms'], start_at: nominal, local_time: true, time_zone: 'Europe/Moscow', next_run_at: Date.parse('2026-12-03T09:00:00+14:00'), step_timeout_seconds: 120, throttle_per_minute: 60 },
  );
  const r = s.runner();
  s.clock.now = Date.parse('2026-12-03T09:00:00+14:00');
  await r.tick();
  assert.deepEqual(s.accepted.map((j) => [j.messages.length, j.cascades?.length ?? 0]), [[2, 1]], 'one recipient a second: the parent and its first step');
  for (let i = 1; i <= 2; i++) {
    s.clock.now += 1000;
    await r.tick();
  }
  assert.deepEqual(s.accepted.map((j) => j.mailing!.recipients.length), [1, 1, 1], 'a second later the next recipient, and the next');
  s.clock.now += 1000;
  await r.tick();
  assert.equal((await s.status()).status, 'finished');
  const own = await s.messages();
  assert.equal(own.length, 3);
  const cascades = await s.db.selectFrom('cascades').selectAll().execute();
  assert.equal(cascades.length, 2);
  for (const [zone, c] of [['Asia/Vladivostok', cascades.find((x) => own.find((m) => m.id === x.id)!.recipient === 'vl@example.org')!], ['Europe/Moscow', cascades.find((x) => own.find((m) => m.id === x.id)!.recipient === 'ms@example.org')!]] as const) {
    const first = await s.db.selectFrom('messages').selectAll().where('id', '=', c.child_id).executeTakeFirstOrThrow();
    const due = zone === 'Asia/Vladivostok' ? Date.parse('2026-12-03T09:00:00+10:00') : nominal;
    assert.deepEqual([first.channel, first.cascade_step, first.due_at, c.timer_at], ['email', 1, due, due + 120_000], zone);
    assert.deepEqual((JSON.parse(c.steps) as { channel: string; until: string; timeout_seconds: number | null }[]).map((x) => [x.channel, x.until, x.timeout_seconds]), [['email', 'delivered', 120], ['sms', 'delivered', null]]);
  }
  const plain = own.find((m) => m.recipient === phone(3))!;
  assert.deepEqual([plain.channel, plain.cascade_step ?? null, plain.due_at], ['sms', null, nominal]);
  await s.database.close();
});

test('quiet hours apply once, in the contact\'s zone: a 10:00 local-time message to Vladivostok is not held again by the account\'s zone', async () => {
  // Account zone Moscow, quiet 21:00–09:00: 10:00 Vladivostok is 03:00 Moscow, inside the window there but not in the contact's zone.
  const s = await setup(
    [{ first_name: 'Vl', phones: [phone(1)], time_zone: 'Asia/Vladivostok' }],
    { start_at: Date.parse('2026-12-03T10:00:00+03:00'), local_time: true, time_zone: 'Europe/Moscow', next_run_at: Date.parse('2026-12-03T10:00:00+14:00') },
  );
  await s.accounts.updateSettings(s.account.id, { quiet_hours_start: '21:00', quiet_hours_end: '09:00' });
  const r = s.runner();
  s.clock.now = Date.parse('2026-12-03T10:00:00+14:00');
  await r.tick();
  const [msg] = await s.messages();
  assert.equal(new Date(msg!.due_at).toISOString(), new Date(Date.parse('2026-12-03T10:00:00+10:00')).toISOString());
  await s.database.close();
});

test('throttle: it bounds the messages sent, not the contacts read (a segment matching one contact in ten still sends one a second)', async () => {
  const s = await setup(people(200, (i) => ({ attributes: { city: i % 10 === 0 ? 'Москва' : 'Казань' }, ...(i === 20 ? { consent: { sms: false } } : {}) })), { status: 'draft', throttle_per_minute: 60 });
  const segment = await new SegmentsRepository(s.db).create(s.account.id, { project_id: s.project.id, name: 'msk', filter: { conditions: [{ field: 'attributes.city', op: 'eq', value: 'москва' }] } });
  await s.db.updateTable('mailings').set({ segment_id: segment.id, status: 'scheduled', next_run_at: T0 }).where('id', '=', s.mailing.id).execute();
  const r = s.runner();
  // 10 s of the runner's 250 ms polls: a message a second (a skipped contact, the one that refused SMS, costs nothing)
  for (let i = 0; i < 40; i++) {
    await r.tick();
    s.clock.now += 250;
  }
  assert.equal((await s.messages()).length, 10);
  for (let i = 0; i < 40; i++) {
    await r.tick();
    s.clock.now += 250;
  }
  assert.equal((await s.messages()).length, 19, 'every matching contact but the one that refused, each once');
  assert.deepEqual(await s.mailings.countRecipients(s.account.id, s.mailing.id, 1), { accepted: 19, skipped: 1 });
  assert.equal((await s.status()).status, 'finished');
  await s.database.close();
});

test('a mailing whose template is gone is cancelled by the runner as a user\'s cancel is: its held messages are left to the canceller (cancel_cursor)', async () => {
  const s = await setup(people(4), { status: 'draft' }, { pageSize: 2 });
  const own = await new TemplatesRepository(s.db).create(s.account.id, { project_id: s.project.id, channel: 'sms', name: 'own', text: 'Own {{first_name}}' }, T0 - 1000);
  await s.db.updateTable('mailings').set({ templates: JSON.stringify({ sms: own.id }), status: 'scheduled', next_run_at: T0 }).where('id', '=', s.mailing.id).execute();
  // Quiet hours 11:00–13:00 Moscow: the first page's messages are held.
  await s.accounts.updateSettings(s.account.id, { quiet_hours_start: '11:00', quiet_hours_end: '13:00' });
  const r = s.runner();
  await r.tick();
  const held = await s.messages();
  assert.ok(held.length === 2 && held.every((m) => m.status === 'accepted' && m.due_at > s.clock.now));
  await new TemplatesRepository(s.db).delete(s.account.id, own.id);
  s.clock.now += 1000;
  await r.tick();
  const m = await s.status();
  assert.deepEqual([m.status, m.cancel_cursor], ['cancelled', '']);
  assert.deepEqual((await s.mailings.cancelling(10)).map((x) => x.id), [m.id]);
  await s.database.close();
});

test('stats of a recurring mailing\'s second run: the run\'s messages apart from the mailing\'s', async () => {
  const s = await setup(people(3), { schedule_cron: '0 12 * * *', time_zone: 'Europe/Moscow', start_at: null, next_run_at: T0 });
  const r = s.runner();
  await r.tick();
  const first = await s.status();
  assert.deepEqual((await s.mailings.stats(s.account.id, first)).run_messages, { accepted: 3 }, 'the first run: the mailing\'s messages');
  await s.db.updateTable('messages').set({ status: 'delivered' }).execute();
  s.clock.now = Date.parse('2026-12-03T12:00:00+03:00');
  await r.tick();
  const m = await s.status();
  assert.equal(m.run_number, 2);
  await s.db.updateTable('messages').set({ status: 'failed' }).where('status', '=', 'accepted').where('id', '=', (await s.messages()).at(-1)!.id).execute();
  const stats = await s.mailings.stats(s.account.id, m);
  assert.deepEqual([stats.messages, stats.errors], [{ delivered: 3, accepted: 2, failed: 1 }, 1]);
  assert.deepEqual([stats.run_messages, stats.run_errors], [{ accepted: 2, failed: 1 }, 1]);
  await s.database.close();
});
