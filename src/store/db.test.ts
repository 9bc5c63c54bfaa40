import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { loadConfig } from '../config.ts';
import { bootstrapOnce } from '../gateway.ts';
import { AccountsRepository } from './accounts.ts';
import { openDatabase, type Database } from './db.ts';
import { postgresUnavailable, TEST_DATABASE_URL } from '../../test/helpers.ts';

const config = loadConfig({});

async function rows(database: Database): Promise<{ accounts: number; apiKeys: number; users: number }> {
  const count = async (table: 'accounts' | 'api_keys' | 'users') => Number((await database.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  return { accounts: await count('accounts'), apiKeys: await count('api_keys'), users: await count('users') };
}

test('a database a newer release migrated: a node of the previous version starts on it (onNewer) instead of failing; a real mismatch still fails', async () => {
  const database = await openDatabase({ sqlitePath: ':memory:' });
  try {
    await database.migrate();
    await sql`insert into kysely_migration (name, timestamp) values ('999-from-a-newer-release', ${new Date().toISOString()})`.execute(database.db);
    await assert.rejects(database.migrate(), /999-from-a-newer-release is missing/, 'without onNewer it is the mismatch it is');
    let newer: string[] = [];
    assert.deepEqual(await database.migrate({ onNewer: (names) => (newer = names) }), []);
    assert.deepEqual(newer, ['999-from-a-newer-release']);
    // One of this code's own migrations not applied beside the unknown one: not a newer release's database.
    await sql`delete from kysely_migration where name = '037-mailing-params'`.execute(database.db);
    await assert.rejects(database.migrate({ onNewer: () => assert.fail('not a newer database') }), /is missing/);
  } finally {
    await database.close();
  }
});

test('SQLite: migrate() names what it applied, then nothing; the bootstrap runs once and all or nothing', async () => {
  const database = await openDatabase({ sqlitePath: ':memory:' });
  try {
    const applied = await database.migrate();
    assert.ok(applied.length > 20 && applied[0] === '001-initial', `applied ${applied.join(', ')}`);
    assert.deepEqual(applied, [...applied].sort(), 'oldest first');
    assert.deepEqual(await database.migrate(), [], 'a second run applies nothing');

    // An administrator's email already taken: the bootstrap fails at its last step and leaves no demo account behind.
    const accounts = new AccountsRepository(database.db);
    await accounts.createUser({ email: 'admin@depesha.local', password: 'x'.repeat(12), role: 'administrator', accountId: null });
    await assert.rejects(bootstrapOnce(database, config));
    assert.deepEqual(await rows(database), { accounts: 0, apiKeys: 0, users: 1 }, 'rolled back whole');

    await database.db.deleteFrom('users').execute();
    assert.ok(await bootstrapOnce(database, config));
    assert.equal(await bootstrapOnce(database, config), undefined, 'an installation with an account is not bootstrapped again');
    assert.deepEqual(await rows(database), { accounts: 1, apiKeys: 1, users: 1 });
  } finally {
    await database.close();
  }
});

test('PostgreSQL: three processes opening a new schema at once create it, migrate it once and bootstrap it once', { skip: (await postgresUnavailable()) ?? false }, async () => {
  // Three pools stand for three nodes: each opens its own connections, so the schema's creation, the
  // migrations and the bootstrap race as they would between processes.
  for (let round = 0; round < 3; round++) {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const databases: Database[] = [];
    try {
      const opened = await Promise.allSettled([1, 2, 3].map(() => openDatabase({ databaseUrl: TEST_DATABASE_URL, pgSchema: schema, pgPoolSize: 2 })));
      for (const o of opened) if (o.status === 'fulfilled') databases.push(o.value);
      assert.deepEqual(opened.filter((o) => o.status === 'rejected').map((o) => String(o.reason)), [], 'every node opens the schema');
      const applied = await Promise.all(databases.map((d) => d.migrate()));
      const nonEmpty = applied.filter((names) => names.length > 0);
      assert.equal(nonEmpty.length, 1, `one node applies the migrations: ${JSON.stringify(applied.map((a) => a.length))}`);
      assert.equal(nonEmpty[0]![0], '001-initial');
      const boots = await Promise.all(databases.map((d) => bootstrapOnce(d, config)));
      assert.equal(boots.filter((b) => b !== undefined).length, 1, 'one node bootstraps');
      assert.deepEqual(await rows(databases[0]!), { accounts: 1, apiKeys: 1, users: 1 });
    } finally {
      await Promise.all(databases.map((d) => d.close()));
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  }
});
