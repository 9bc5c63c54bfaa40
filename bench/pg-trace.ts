/**
 * Preload for the gateway under test (`--pg-trace FILE` on any bench puts it in
 * the server's NODE_OPTIONS): counts and times every PostgreSQL query per
 * statement shape, from the call of pg's Client#query to its answer (a round
 * trip: network, waiting in PostgreSQL, execution), and writes the totals to
 * FILE (main thread) or FILE.thread<N> (worker threads) every 2 s and at exit.
 * Statements that differ only in the number of bound values count as one shape.
 * Nothing in src/ is changed; this wraps pg's Client prototype.
 */
import { writeFileSync } from 'node:fs';
import { isMainThread, threadId } from 'node:worker_threads';
import pg from 'pg';

const base = process.env.BENCH_PG_TRACE;
const out = base && (isMainThread ? base : `${base}.thread${threadId}`);
if (out) {
  const totals = new Map<string, { calls: number; ms: number; rows: number }>();
  const shape = (sql: string) =>
    sql
      .replace(/\s+/g, ' ')
      .replace(/\$\d+(, \$\d+)+/g, '$…')
      .replace(/\(\$…\)(, \(\$…\))+/g, '($…)…')
      .trim();
  const started = performance.now();
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]) {
    const first = args[0];
    const text = typeof first === 'string' ? first : first && typeof first === 'object' && 'text' in first ? String((first as { text: unknown }).text) : '';
    const result = original.apply(this, args);
    if (!text || !result || typeof (result as Promise<unknown>).then !== 'function') return result;
    const t0 = performance.now();
    const key = shape(text);
    const record = (rows: number) => {
      const e = totals.get(key) ?? { calls: 0, ms: 0, rows: 0 };
      e.calls++;
      e.ms += performance.now() - t0;
      e.rows += rows;
      totals.set(key, e);
    };
    (result as Promise<{ rowCount?: number | null }>).then(
      (r) => record(Number(r?.rowCount ?? 0)),
      () => record(0),
    );
    return result;
  };
  const dump = () => {
    const wall = performance.now() - started;
    const rows = [...totals].map(([sql, t]) => ({ sql, calls: t.calls, ms: Math.round(t.ms), us_per_call: Math.round((t.ms / t.calls) * 1000), rows: t.rows })).sort((a, b) => b.calls - a.calls);
    writeFileSync(out, JSON.stringify({ thread: isMainThread ? 'main' : threadId, wall_ms: Math.round(wall), queries: rows.reduce((a, r) => a + r.calls, 0), statements: rows }, null, 1));
  };
  setInterval(dump, 2000).unref();
  process.on('exit', dump);
}
