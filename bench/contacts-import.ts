/**
 * Contact import without HTTP: a generated CSV of --rows rows (default 50,000,
 * the most one file may hold) read, checked and normalised row by row (readContactsFile), then
 * written in one transaction (ContactsRepository.importRows), into a fresh
 * SQLite file or a throwaway PostgreSQL schema. Prints the time of each phase
 * and rows/s for --runs runs (median), and one line of JSON last.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { csvRows, readContactsFile } from '../src/ingress/http/routes/contacts-files.ts';
import { AccountsRepository } from '../src/store/accounts.ts';
import { ContactsRepository } from '../src/store/contacts.ts';
import { openDatabase } from '../src/store/db.ts';
import { ProjectsRepository } from '../src/store/projects.ts';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '50000' }, runs: { type: 'string', default: '3' }, db: { type: 'string', default: 'sqlite' }, 'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' } } });
const rows = Number(values.rows);
const runs = Number(values.runs);

function csv(n: number): string {
  const lines = ['guid,first_name,last_name,gender,phone,email,city'];
  for (let i = 0; i < n; i++) lines.push(`g-${i},Имя${i},Фамилия${i},${i % 2 ? 'male' : 'female'},+7916${String(i).padStart(7, '0')},u${i}@example.com,Город${i % 100}`);
  return lines.join('\n') + '\n';
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const text = csv(rows);
const results: { read_ms: number; write_ms: number; total_ms: number; rows_per_s: number }[] = [];
for (let run = 0; run < runs; run++) {
  const dir = mkdtempSync(path.join(tmpdir(), 'depesha-bench-import-'));
  const schema = `bench_import_${process.pid}_${run}`;
  const database = await openDatabase(values.db === 'postgres' ? { databaseUrl: values['pg-url'], pgSchema: schema } : { sqlitePath: path.join(dir, 'bench.db') });
  try {
    await database.migrate();
    const account = await new AccountsRepository(database.db).createAccount({ name: 'bench', defaultRegion: 'RU', defaultTtlSeconds: 86400, maxParts: 10 });
    const project = await new ProjectsRepository(database.db).create(account.id, { name: 'bench', code: 'bench' });
    const t0 = performance.now();
    const outcome = await readContactsFile(csvRows(text), 'RU');
    if (outcome.badRows > 0) throw new Error(`bad rows: ${JSON.stringify(outcome.problems.slice(0, 3))}`);
    const t1 = performance.now();
    const written = await new ContactsRepository(database.db).importRows(account.id, project.id, outcome.rows, outcome.columns);
    const t2 = performance.now();
    if (written.created !== rows) throw new Error(`created ${written.created} of ${rows}`);
    const r = { read_ms: Math.round(t1 - t0), write_ms: Math.round(t2 - t1), total_ms: Math.round(t2 - t0), rows_per_s: Math.round(rows / ((t2 - t0) / 1000)) };
    results.push(r);
    console.error(`run ${run + 1}/${runs}: ${JSON.stringify(r)}`);
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
    if (values.db === 'postgres') {
      const client = new pg.Client({ connectionString: values['pg-url'] });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  }
}
const summary = { bench: 'contacts-import', db: values.db, rows, runs, read_ms: median(results.map((r) => r.read_ms)), write_ms: median(results.map((r) => r.write_ms)), total_ms: median(results.map((r) => r.total_ms)), rows_per_s: median(results.map((r) => r.rows_per_s)) };
console.log(`contact import of ${rows} rows on ${values.db}: median ${summary.total_ms} ms (read+check ${summary.read_ms} ms, write ${summary.write_ms} ms), ${summary.rows_per_s} rows/s`);
console.log(JSON.stringify(summary));
