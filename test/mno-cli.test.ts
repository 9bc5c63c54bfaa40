import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createLogger } from '../src/log.ts';
import { openDatabase, type Database } from '../src/store/db.ts';
import { MnoCache, MnoRepository } from '../src/store/mno.ts';
import { dialects, TEST_DATABASE_URL } from './helpers.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const REGISTRY_FILE = process.env.DEPESHA_TEST_REGISTRY ?? path.join(ROOT, '../shared/data/DEF-9xx.csv');
const NODE = path.join(ROOT, 'node_modules/.bin/node');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `depesha mno …` as its own process, as an administrator would. */
function depesha(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(NODE, ['src/main.ts', 'mno', ...args], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'warn', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

/** Resolves when the cache has loaded something that satisfies `ok`. */
function loadedWhen(changes: ((loaded: MnoCache['loaded']) => void)[], cache: MnoCache, ok: (loaded: MnoCache['loaded']) => boolean): Promise<void> {
  if (ok(cache.loaded)) return Promise.resolve();
  return new Promise((resolve) => changes.push((l) => ok(l) && resolve()));
}

for (const dialect of await dialects()) {
  describe(`depesha mno (CLI) on ${dialect.name}`, { skip: dialect.skip }, () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'depesha-mno-cli-'));
    // The CLI has no schema setting: on PostgreSQL it gets a throwaway database of its own.
    const pgDatabase = `t_mno_${randomBytes(5).toString('hex')}`;
    const databaseUrl = dialect.name === 'postgres' ? TEST_DATABASE_URL.replace(/\/[^/]*$/, `/${pgDatabase}`) : undefined;
    const env: Record<string, string> = { DEPESHA_DATA_DIR: dataDir, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) };
    let database: Database;
    let cache: MnoCache;
    const listeners: ((loaded: MnoCache['loaded']) => void)[] = [];

    before(async () => {
      if (databaseUrl) {
        const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
        await admin.connect();
        await admin.query(`CREATE DATABASE ${pgDatabase}`);
        await admin.end();
      }
      database = await openDatabase({ databaseUrl, sqlitePath: path.join(dataDir, 'depesha.sqlite'), sqliteSynchronous: 'normal' });
      await database.migrate();
      // A running gateway's lookup, in this process; the CLI runs in another.
      cache = new MnoCache(new MnoRepository(database.db), createLogger('silent'), { pollMs: 25, onChange: (l) => listeners.forEach((f) => f(l)) });
      await cache.start();
    });
    after(async () => {
      cache?.stop();
      await database?.close();
      if (databaseUrl) {
        const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
        await admin.connect();
        await admin.query(`DROP DATABASE IF EXISTS ${pgDatabase} WITH (FORCE)`);
        await admin.end();
      }
      rmSync(dataDir, { recursive: true, force: true });
    });

    test('1. import loads the registry file; a running process picks it up by the marker', async () => {
      assert.equal(cache.lookup('79161234567'), null);
      const run = await depesha(env, 'import', REGISTRY_FILE);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, 'imported DEF-9xx.csv as registry version 1: 9677 ranges, 85 operators\n');
      await loadedWhen(listeners, cache, (l) => l.registryVersion === 1);
      assert.deepEqual(cache.loaded, { registryVersion: 1, portedRevision: 0, ranges: 9677, ported: 0 });
      assert.equal(cache.lookup('79161234567')?.operator, 'mts');
    });

    test('2. a file with bad rows is refused whole with every bad line and exit code 65; the current version stays', async () => {
      const bad = path.join(dataDir, 'bad.csv');
      writeFileSync(
        bad,
        '\uFEFFАВС/ DEF;От;До;Емкость;Оператор;Регион;ИНН\n' +
          '916;0;9999999;10000000;"ПАО ""МегаФон""";г. Москва;7812014560\n' +
          '926;0;999;1;X;Y;7812014560\n' +
          '903;0;999;1000;X;Y;12\n',
      );
      const run = await depesha(env, 'import', bad);
      assert.equal(run.code, 65);
      assert.equal(run.stdout, '');
      assert.match(run.stderr, /bad\.csv refused, nothing was written: 2 bad rows/);
      assert.match(run.stderr, /line 3: Емкость 1 does not match/);
      assert.match(run.stderr, /line 4: ИНН "12"/);
      const repo = new MnoRepository(database.db);
      assert.equal((await repo.current())?.version, 1);
      assert.equal((await repo.loadRegistry()).ranges.length, 9677);
    });

    test('3. import-ported overrides the registry; a running process picks it up', async () => {
      const file = path.join(dataDir, 'ported.csv');
      writeFileSync(file, 'number;operator\n+79161234567;megafon\n89261234567;7743200179\n');
      const run = await depesha(env, 'import-ported', file);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, 'imported 2 ported numbers from ported.csv; 2 in the table\n');
      await loadedWhen(listeners, cache, (l) => l.ported === 2);
      assert.deepEqual(cache.lookup('79161234567'), { operator: 'megafon', operatorName: 'ПАО "МегаФон"', region: 'г. Москва и Московская область', ported: true });
      assert.equal(cache.lookup('79261234567')?.operator, 'inn_7743200179');

      writeFileSync(file, '79031234567;t2\nnot a number;mts\n');
      const refused = await depesha(env, 'import-ported', file);
      assert.equal(refused.code, 65);
      assert.match(refused.stderr, /line 2: number "not a number"/);

      writeFileSync(file, '79031234567;t2\n');
      const replaced = await depesha(env, 'import-ported', file, '--replace');
      assert.equal(replaced.code, 0, replaced.stderr);
      await loadedWhen(listeners, cache, (l) => l.ported === 1);
      assert.equal(cache.lookup('79161234567')?.operator, 'mts');
      assert.equal(cache.lookup('79031234567')?.operator, 't2');
    });

    test('4. a second import becomes the current version and the old version\'s rows are gone', async () => {
      const run = await depesha(env, 'import', REGISTRY_FILE);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /registry version 2: 9677 ranges/);
      await loadedWhen(listeners, cache, (l) => l.registryVersion === 2);
      const rows = await database.db.selectFrom('mno_ranges').select(['version', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('version').execute();
      assert.deepEqual(rows.map((r) => [r.version, Number(r.n)]), [[2, 9677]]);
      // The ported numbers are loaded again with the new registry.
      assert.equal(cache.lookup('79031234567')?.operator, 't2');
    });

    test('5. a change in this process after one in another loads both, not just its own', async () => {
      cache.stop(); // no polling from here on: only portedChanged() can bring the other process's change in
      const before = cache.loaded.portedRevision;
      const file = path.join(dataDir, 'ported2.csv');
      writeFileSync(file, '79261234567;beeline\n');
      assert.equal((await depesha(env, 'import-ported', file)).code, 0);
      const repo = new MnoRepository(database.db);
      const { revision } = await repo.putPorted({ number: '79161234567', operator: 't2', inn: '7743895280', operator_name: null, region: null, updated_at: Date.now() });
      assert.equal(revision, before + 2);
      await cache.portedChanged(revision, '79161234567', { operator: 't2', operatorName: null, region: null });
      assert.equal(cache.loaded.portedRevision, revision);
      assert.equal(cache.lookup('79161234567')?.operator, 't2');
      assert.equal(cache.lookup('79261234567')?.operator, 'beeline', 'the other process\'s change is loaded too');
      // The next revision is applied in place.
      const next = await repo.deletePorted('79161234567');
      await cache.portedChanged(next!, '79161234567', null);
      assert.equal(cache.lookup('79161234567')?.operator, 'mts');
      assert.equal(cache.loaded.ported, 2);
    });

    test('6. bad arguments are a usage error', async () => {
      const run = await depesha(env, 'import');
      assert.equal(run.code, 2);
      assert.match(run.stderr, /usage: depesha mno/);
      const missing = await depesha(env, 'import', path.join(dataDir, 'nope.csv'));
      assert.equal(missing.code, 65);
      assert.match(missing.stderr, /cannot read/);
    });
  });
}
