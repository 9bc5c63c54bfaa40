import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ConnectorsRepository } from './connectors.ts';
import { openDatabase } from './db.ts';
import { SecretBox } from './secrets.ts';

test("a config route with an id keeps its switch when the file's routes are reordered; one without goes by position", async () => {
  const database = await openDatabase({ sqlitePath: ':memory:' });
  await database.migrate();
  const repo = new ConnectorsRepository(database.db, new SecretBox(randomBytes(32)));
  const main = { id: 'main', connector: 'a', prefixes: ['7'] };
  const spare = { connector: 'b' };
  await repo.setRouteEnabled('config-main', false);
  const before = await repo.namedRoutes([main, spare]);
  assert.deepEqual(before.map((r) => [r.id, r.enabled, r.route]), [
    ['config-main', false, { connector: 'a', prefixes: ['7'] }],
    ['config-2', true, { connector: 'b' }],
  ]);
  // The file edited: a route added in front. The named one is still off; the unnamed one's id moved with it.
  const after = await repo.namedRoutes([{ connector: 'c' }, spare, main]);
  assert.deepEqual(after.map((r) => [r.id, r.enabled]), [
    ['config-1', true],
    ['config-2', true],
    ['config-main', false],
  ]);
  await database.close();
});
