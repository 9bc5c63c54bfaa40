import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, test } from 'node:test';
import { Kysely, SqliteDialect, sql } from 'kysely';
import type { DB } from './schema.ts';
import { WriteBatcher } from './write-batcher.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'depesha-batcher-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A file database seen through Kysely (counting commits) and through a second, plain connection. */
function open(name: string) {
  const file = path.join(dir, name);
  const raw = new DatabaseSync(file);
  raw.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
  const counts = { commits: 0 };
  const db = new Kysely<DB>({
    dialect: new SqliteDialect({
      database: {
        close: () => raw.close(),
        prepare(text: string) {
          if (text === 'commit') counts.commits++;
          const statement = raw.prepare(text);
          return {
            reader: statement.columns().length > 0,
            all: (params: readonly unknown[]) => statement.all(...(params as never[])),
            run: (params: readonly unknown[]) => statement.run(...(params as never[])),
            iterate: (params: readonly unknown[]) => statement.iterate(...(params as never[])) as IterableIterator<unknown>,
          };
        },
      },
    }),
  });
  const other = new DatabaseSync(file);
  const visible = () => (other.prepare('SELECT id FROM t ORDER BY id').all() as { id: number }[]).map((r) => r.id);
  return { db, counts, visible, close: async () => (other.close(), await db.destroy()) };
}

const insert = (id: number) => async (tx: Kysely<DB>) => {
  await sql`INSERT INTO t (id, v) VALUES (${id}, 'x')`.execute(tx);
  return id;
};

test('units submitted in one tick share one commit; a failing unit rolls back alone', async () => {
  const { db, counts, visible, close } = open('shared.sqlite');
  const batcher = new WriteBatcher(db);
  const results = await Promise.allSettled([
    batcher.run(insert(1)),
    batcher.run(async (tx) => {
      await insert(2)(tx);
      await insert(1)(tx); // duplicate key: this unit fails after writing row 2
    }),
    batcher.run(insert(3)),
  ]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  assert.equal((results[0] as PromiseFulfilledResult<number>).value, 1);
  assert.match(String((results[1] as PromiseRejectedResult).reason), /UNIQUE/);
  assert.equal(counts.commits, 1);
  assert.deepEqual(visible(), [1, 3]);
  await close();
});

test('a unit is reported done only once the shared transaction is committed', async () => {
  const { db, visible, close } = open('durable.sqlite');
  const batcher = new WriteBatcher(db);
  const seenInsideSecondUnit: number[][] = [];
  const first = batcher.run(insert(1)).then((id) => ({ id, visibleAtResolve: visible() }));
  const second = batcher.run(async (tx) => {
    seenInsideSecondUnit.push(visible()); // unit 1 has run, but nothing is committed yet
    return insert(2)(tx);
  });
  const [a] = await Promise.all([first, second]);
  assert.deepEqual(seenInsideSecondUnit, [[]]);
  assert.deepEqual(a.visibleAtResolve, [1, 2]);
  await close();
});

test('units submitted while a transaction runs go into the next one', async () => {
  const { db, counts, visible, close } = open('next.sqlite');
  const batcher = new WriteBatcher(db);
  let late: Promise<number> | undefined;
  await batcher.run(async (tx) => {
    late = batcher.run(insert(2));
    return insert(1)(tx);
  });
  assert.equal(await late, 2);
  assert.equal(counts.commits, 2);
  assert.deepEqual(visible(), [1, 2]);
  await close();
});

test('onSettled tells each unit whether its own writes are stored, after the commit and before its promise settles', async () => {
  const { db, visible, close } = open('settled.sqlite');
  const batcher = new WriteBatcher(db);
  const told: [number, boolean, number[]][] = [];
  const unit = (id: number, fail: boolean) =>
    batcher.run(async (tx) => {
      batcher.onSettled((stored) => told.push([id, stored, visible()]));
      await insert(id)(tx);
      if (fail) throw new Error('unit fails after its insert');
    });
  const results = await Promise.allSettled([unit(1, false), unit(2, true), unit(3, false)]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  assert.deepEqual(told, [
    [1, true, [1, 3]],
    [2, false, [1, 3]],
    [3, true, [1, 3]],
  ]);
  assert.throws(() => batcher.onSettled(() => {}), /only for a unit of work/);
  await close();
});

test('savepoint: what a rolled-back savepoint of a unit asked to be told hears false at once; the rest hears the unit\'s outcome', async () => {
  const { db, visible, close } = open('savepoint-hooks.sqlite');
  const batcher = new WriteBatcher(db);
  const told: [string, boolean, number[]][] = [];
  const unit = batcher.run(async (tx) => {
    // A first attempt that fails after handing something over, then a retry that succeeds (AcceptWriter's group, then job by job).
    const first = await batcher.savepoint(tx, async (t) => {
      batcher.onSettled((stored) => told.push(['attempt 1', stored, visible()]));
      await insert(1)(t);
      throw new Error('the group fails');
    });
    assert.equal(first.ok, false);
    assert.deepEqual(told, [['attempt 1', false, []]], 'told before the commit: its writes are gone');
    const second = await batcher.savepoint(tx, async (t) => {
      batcher.onSettled((stored) => told.push(['attempt 2', stored, visible()]));
      await insert(2)(t);
    });
    assert.equal(second.ok, true);
  });
  await unit;
  assert.deepEqual(told, [
    ['attempt 1', false, []],
    ['attempt 2', true, [2]],
  ]);
  await close();
});
