/**
 * Micro-benchmark of the delivery thread's hottest statements, no server: CPU
 * µs per row (process.cpuUsage, so time the VM's vCPU waits on its host counts
 * less than in wall-clock figures) of
 *   - the multi-row INSERT of accepted messages: built by Kysely per call (the
 *     code before 2026-12-07) against `insertChunks` (store/shapes.ts), and
 *   - the `queued → sent` UPDATE: `RETURNING *` (before) against
 *     `RETURNING` TRANSITION_COLUMNS (pipeline/transitions.ts).
 * The two ways alternate round by round in one process, on one SQLite file
 * (WAL, synchronous=NORMAL: the fsync is not what is measured), each
 * transaction holding `--batch` rows, so the ratio holds on a slow VM too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { openDatabase } from '../src/store/db.ts';
import { MessagesRepository, type MessageRow } from '../src/store/messages.ts';
import { fixedChunks, inLists } from '../src/store/shapes.ts';
import { TRANSITION_COLUMNS } from '../src/pipeline/transitions.ts';
import { checkNodeVersion, codeVersion, fail, machineInfo, median, printResult, randomPhone, round } from './lib.ts';

const USAGE = `usage: node bench/statements.ts [--rows N] [--batch N] [--rounds N] [--quiet]

  --rows N     rows per way and round (default 20000)
  --batch N    rows per transaction (default 100)
  --rounds N   rounds; each way's median is reported (default 5, after one unmeasured)`;

checkNodeVersion();
let values;
try {
  ({ values } = parseArgs({
    options: {
      rows: { type: 'string', default: '20000' },
      batch: { type: 'string', default: '100' },
      rounds: { type: 'string', default: '5' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }));
} catch (err) {
  fail(`${(err as Error).message}\n\n${USAGE}`);
}
if (values.help) {
  process.stdout.write(USAGE + '\n');
  process.exit(0);
}
const whole = (name: 'rows' | 'batch' | 'rounds') => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a whole number ≥ 1`);
  return n;
};
const rowsPerRound = whole('rows');
const batch = whole('batch');
const rounds = whole('rounds');

const dir = mkdtempSync(path.join(os.tmpdir(), 'depesha-statements-'));
const database = await openDatabase({ sqlitePath: path.join(dir, 'bench.sqlite'), sqliteSynchronous: 'normal' });
await database.migrate();
const db = database.db;
await sql`PRAGMA foreign_keys = OFF`.execute(db);

let seq = 0;
const now = Date.now();
function message(): MessageRow {
  const i = seq++;
  return {
    id: `msg_${String(i).padStart(12, '0')}`, account_id: 'acc_bench', batch_id: null, channel: 'sms', recipient: randomPhone(), sender: null,
    body: `Your code is ${100000 + (i % 900000)}. Do not tell it to anyone.`, encoding: 'gsm7', characters: 44, parts_count: 1, traffic_type: 'transactional',
    group_tag: null, project: null, reference: null, status: 'queued', reason_code: null, provider_code: null, reason_detail: null, connector_id: null, attempts: 1,
    ttl_seconds: 86_400, send_at: null, expires_at: now + 86_400_000, due_at: now + 60_000, lease_until: now + 60_000, created_at: now, queued_at: now, sent_at: null,
    delivered_at: null, completed_at: null, updated_at: now, callback_url: null, operator: 'mts', region: '77', failed_connectors: null, content: null, parent_id: null,
    cascade_step: null, mailing_id: null, price_minor: null, template_id: null,
  };
}

/** CPU µs per row of `work` over `rowsPerRound` rows in transactions of `batch`. */
async function measure(work: (rows: MessageRow[]) => Promise<void>, make: () => MessageRow[][]): Promise<number> {
  const batches = make();
  const start = process.cpuUsage();
  for (const rows of batches) await work(rows);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / rowsPerRound;
}
const freshBatches = () => Array.from({ length: Math.ceil(rowsPerRound / batch) }, () => Array.from({ length: batch }, message));

// Each way inserts its own rows; the sent UPDATEs then run on rows inserted for them, in the same batches.
const insertKysely = (rows: MessageRow[]) => db.transaction().execute(async (tx) => { for (const c of fixedChunks(rows)) await tx.insertInto('messages').values(c).execute(); });
const insertKept = (rows: MessageRow[]) => db.transaction().execute((tx) => MessagesRepository.insertAccepted(tx, rows));
const sentUpdate = (returning: 'all' | 'narrow') => async (rows: MessageRow[]) => {
  await db.transaction().execute(async (tx) => {
    for (const ids of inLists(rows.map((r) => r.id))) {
      const q = tx.updateTable('messages').set({ status: 'sent', sent_at: now, connector_id: 'sandbox', lease_until: null, reason_code: null, provider_code: null, reason_detail: null, updated_at: now }).where('id', 'in', ids).where('status', '=', 'queued');
      if (returning === 'all') await q.returningAll().execute();
      else await q.returning(TRANSITION_COLUMNS).execute();
    }
  });
};

const results = { insert_kysely: [] as number[], insert_kept: [] as number[], sent_returning_all: [] as number[], sent_returning_narrow: [] as number[] };
for (let round = 0; round <= rounds; round++) {
  const inserted: Record<'kysely' | 'kept', MessageRow[][]> = { kysely: [], kept: [] };
  const a = await measure(insertKysely, () => (inserted.kysely = freshBatches()));
  const b = await measure(insertKept, () => (inserted.kept = freshBatches()));
  const c = await measure(sentUpdate('all'), () => inserted.kysely);
  const d = await measure(sentUpdate('narrow'), () => inserted.kept);
  if (round === 0) continue; // warms the JIT and the page cache up
  results.insert_kysely.push(a);
  results.insert_kept.push(b);
  results.sent_returning_all.push(c);
  results.sent_returning_narrow.push(d);
}
await database.close();
rmSync(dir, { recursive: true, force: true });

const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, round(median(v), 1)])) as Record<keyof typeof results, number>;
const result = { bench: 'statements', code: codeVersion(), machine: machineInfo(), rows_per_round: rowsPerRound, batch, rounds, cpu_us_per_row_median: m, cpu_us_per_row_runs: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.map((x) => round(x, 1))])) };
printResult(
  values.quiet,
  [
    `${rowsPerRound} rows per way and round, ${batch} per transaction, ${rounds} rounds (CPU µs per row, median)`,
    `INSERT messages: Kysely-built ${m.insert_kysely}, insertChunks ${m.insert_kept} (${round((1 - m.insert_kept / m.insert_kysely) * 100, 0)} % less)`,
    `UPDATE → sent:  RETURNING * ${m.sent_returning_all}, TRANSITION_COLUMNS ${m.sent_returning_narrow} (${round((1 - m.sent_returning_narrow / m.sent_returning_all) * 100, 0)} % less)`,
  ],
  result,
);
