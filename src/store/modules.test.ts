import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDatabase } from './db.ts';
import { MODULES, ModuleSwitches, ModulesRepository } from './modules.ts';

test('switches are read at most once per TTL, at once after invalidate(), and a read begun before invalidate() does not fill the cache', async () => {
  const database = await openDatabase({ sqlitePath: ':memory:' });
  await database.migrate();
  const repo = new ModulesRepository(database.db);
  let reads = 0;
  /** while set, a read waits for it: a read held in flight */
  let gate: Promise<void> | undefined;
  const counting = Object.assign(Object.create(repo) as ModulesRepository, {
    switches: async () => {
      reads++;
      const result = await repo.switches();
      await gate;
      return result;
    },
  });
  const switches = new ModuleSwitches(counting, { ttlMs: 60_000 });
  assert.equal(await switches.enabled('voice'), true, 'every module starts on');
  await repo.set('voice', false);
  assert.equal(await switches.enabled('voice'), true, 'within the TTL the cached view holds');
  assert.equal(reads, 1);
  switches.invalidate();
  assert.equal(await switches.enabled('voice'), false);
  assert.equal(reads, 2);
  // A read in flight when a change is invalidated answers its caller but is not kept.
  let open!: () => void;
  gate = new Promise((resolve) => (open = resolve));
  switches.invalidate();
  const inFlight = switches.disabled();
  await new Promise((resolve) => setImmediate(resolve)); // the read has its rows (voice off) and waits at the gate
  await repo.set('voice', true);
  switches.invalidate();
  gate = undefined;
  open();
  assert.equal((await inFlight).has('voice'), true, 'the old read answers what it read');
  assert.equal(await switches.enabled('voice'), true, 'but was not kept: the next read sees the change');
  assert.equal(await switches.enabled('mailings'), true);
  assert.deepEqual([...(await repo.switches()).keys()], ['voice']);
  assert.equal(new Set(MODULES.map((m) => m.name)).size, MODULES.length);
  await database.close();
});
