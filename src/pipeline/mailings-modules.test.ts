import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../log.ts';
import { AccountsRepository } from '../store/accounts.ts';
import { ContactsRepository, normalizeContact } from '../store/contacts.ts';
import { openDatabase } from '../store/db.ts';
import { MailingsRepository } from '../store/mailings.ts';
import { ModuleSwitches, ModulesRepository } from '../store/modules.ts';
import { ProjectsRepository } from '../store/projects.ts';
import { TemplatesRepository } from '../store/templates.ts';
import { WriteBatcher } from '../store/write-batcher.ts';
import { AcceptWriter } from './accept.ts';
import { MailingRunner } from './mailings.ts';

const T0 = Date.parse('2026-12-03T09:00:00Z');

/**
 * With the `mailings` module off the runner starts no due mailing and sends
 * no further page of a running one; they go on from where they were once it
 * is on again (docs/modules.md).
 */
test('mailings switched off: a running mailing holds where it is, a due one waits; switched on, both go on', async () => {
  const database = await openDatabase({ sqlitePath: ':memory:' });
  await database.migrate();
  const db = database.db;
  const account = await new AccountsRepository(db).createAccount({ name: 'A', defaultRegion: 'RU', defaultTtlSeconds: 86400, maxParts: 10 }, T0 - 1000);
  const project = await new ProjectsRepository(db).create(account.id, { name: 'P', code: 'MOD' }, T0 - 1000);
  const template = await new TemplatesRepository(db).create(account.id, { project_id: project.id, channel: 'sms', name: 't', text: 'Привет, {{first_name}}!' }, T0 - 1000);
  for (let i = 0; i < 5; i++) {
    const n = normalizeContact({ first_name: `Имя${i}`, phones: [`+7916123000${i}`] }, 'RU');
    assert.ok(n.ok);
    await new ContactsRepository(db).create(account.id, project.id, n.patch, T0 - 1000);
  }
  const mailings = new MailingsRepository(db);
  const base = { project_id: project.id, template_id: template.id, list_id: null, channels: ['sms'], status: 'scheduled' as const, start_at: T0 };
  const slow = await mailings.create(account.id, { ...base, name: 'slow', throttle_per_minute: 60 }, T0 - 1000);
  const writer = new AcceptWriter(new WriteBatcher(db));
  const clock = { now: T0 };
  const repo = new ModulesRepository(db);
  const modules = new ModuleSwitches(repo);
  const runner = new MailingRunner(db, async (job) => void (await writer.write(job)), createLogger('silent'), { now: () => clock.now, modules });
  const sent = async (id: string) => (await db.selectFrom('messages').select('id').where('mailing_id', '=', id).execute()).length;
  const status = async (id: string) => (await mailings.get(account.id, id))!.status;

  await runner.tick();
  assert.deepEqual([await status(slow.id), await sent(slow.id)], ['running', 1], 'one a second');
  await repo.set('mailings', false);
  modules.invalidate();
  const later = await mailings.create(account.id, { ...base, name: 'later', start_at: T0 + 1000, throttle_per_minute: null }, T0);
  clock.now = T0 + 5000;
  await runner.tick();
  assert.deepEqual([await status(slow.id), await sent(slow.id)], ['running', 1], 'held: no page while off');
  assert.deepEqual([await status(later.id), await sent(later.id)], ['scheduled', 0], 'not started while off');

  await repo.set('mailings', true);
  modules.invalidate();
  await runner.tick();
  assert.ok((await sent(slow.id)) > 1, 'the running one goes on from its cursor');
  assert.deepEqual([await status(later.id), await sent(later.id)], ['finished', 5]);
  await database.close();
});
