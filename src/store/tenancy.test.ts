/**
 * Repositories read and change one account's rows only, even when handed an
 * id that another account's rows also carry (house rule: every query on
 * tenant data takes the account id). Rows that no API request could make
 * (another account's message pointing at this account's mailing) are written
 * directly: they stand for a bug elsewhere, or a restored backup, that must
 * not leak across accounts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preparedMessage } from '../pipeline/test-store.ts';
import { AccountsRepository } from './accounts.ts';
import { ContactListsRepository } from './contact-lists.ts';
import { ContactsRepository, normalizeContact } from './contacts.ts';
import { openDatabase } from './db.ts';
import { MailingsRepository } from './mailings.ts';
import { ProjectsRepository } from './projects.ts';
import { TemplateRegistrationsRepository, TemplatesRepository } from './templates.ts';

const T0 = Date.parse('2026-12-02T09:00:00Z');

async function twoAccounts() {
  const database = await openDatabase({ sqlitePath: ':memory:' });
  await database.migrate();
  const db = database.db;
  const accounts = new AccountsRepository(db);
  const a = await accounts.createAccount({ name: 'A', defaultRegion: 'RU', defaultTtlSeconds: 86400, maxParts: 10 }, T0);
  const b = await accounts.createAccount({ name: 'B', defaultRegion: 'RU', defaultTtlSeconds: 86400, maxParts: 10 }, T0);
  const project = await new ProjectsRepository(db).create(a.id, { name: 'P', code: 'OCM' }, T0);
  const template = await new TemplatesRepository(db).create(a.id, { project_id: project.id, channel: 'sms', name: 't', text: 'Hello' }, T0);
  return { database, db, a, b, project, template };
}

test("a mailing's message counts and statistics are of its account's messages only", async () => {
  const { database, db, a, b, project, template } = await twoAccounts();
  const mailings = new MailingsRepository(db);
  const m = await mailings.create(a.id, { project_id: project.id, template_id: template.id, list_id: null, name: 'M', channels: ['sms'], status: 'draft', start_at: null, throttle_per_minute: null }, T0);
  const own = { ...preparedMessage(a, T0, { text: 'one' }), status: 'delivered', mailing_id: m.id };
  const foreign = { ...preparedMessage(b, T0, { text: 'two' }), id: `${own.id}X`, status: 'failed', mailing_id: m.id };
  await db.insertInto('messages').values([own, foreign]).execute();

  assert.deepEqual(await mailings.countMessages(a.id, m.id), { delivered: 1 });
  assert.deepEqual(await mailings.countMessages(a.id, m.id, ['failed']), {});
  assert.deepEqual(await mailings.countMessages(b.id, m.id, ['delivered']), {}, "another account's id finds none of A's");
  const stats = await mailings.stats(a.id, m);
  assert.deepEqual(stats.messages, { delivered: 1 });
  assert.equal(stats.errors, 0, "B's failed message is not A's error");
  await database.close();
});

test("a contact list's size counts its account's members only", async () => {
  const { database, db, a, b, project } = await twoAccounts();
  const lists = new ContactListsRepository(db);
  const list = await lists.create(a.id, project.id, 'L', T0);
  const n = normalizeContact({ first_name: 'X', phones: ['+79161234567'] }, 'RU');
  assert.ok(n.ok);
  const contacts = new ContactsRepository(db);
  const contact = await contacts.create(a.id, project.id, n.patch, T0);
  await lists.add(a.id, list, [contact.id], T0);
  const ofB = await contacts.create(b.id, (await new ProjectsRepository(db).create(b.id, { name: 'PB', code: 'OCB' }, T0)).id, n.patch, T0);
  await db.insertInto('contact_list_members').values({ list_id: list.id, contact_id: ofB.id, account_id: b.id, added_at: T0 }).execute();
  assert.equal((await lists.get(a.id, list.id))?.size, 1);
  await database.close();
});

test("moving a registration of another account's template does not report that account's status", async () => {
  const { database, db, a, b, template } = await twoAccounts();
  const registrations = new TemplateRegistrationsRepository(db);
  assert.equal((await registrations.move(a.id, template.id, 'mts', 'submitted', { texts: { text: 'Hello', text_male: null, text_female: null } }, T0)).ok, true);
  // B names A's template: its draft insert meets A's row, its update finds none of B's, and the status it reads must be B's (none).
  await assert.rejects(registrations.move(b.id, template.id, 'mts', 'approved', {}, T0));
  assert.equal((await registrations.get(a.id, template.id, 'mts'))?.status, 'submitted', "A's registration is untouched");
  await database.close();
});
