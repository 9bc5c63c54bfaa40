/**
 * Preload for the gateway under test (`--sqlite-trace FILE` on any bench puts
 * it in the server's NODE_OPTIONS): times every node:sqlite statement
 * execution and, at exit, writes the totals per statement shape to
 * $BENCH_SQLITE_TRACE as JSON. Statements that differ only in the number of
 * bound values (`IN (?, ?, …)`, multi-row VALUES) count as one shape.
 * Nothing in src/ is changed; this wraps StatementSync's prototype.
 */
import { writeFileSync } from 'node:fs';
import { StatementSync } from 'node:sqlite';
import { isMainThread, threadId } from 'node:worker_threads';

// The gateway may open the database in several threads (the delivery pipeline runs in a
// worker): each thread writes its own file, FILE for the main thread, FILE.thread<N> for workers.
const base = process.env.BENCH_SQLITE_TRACE;
const out = base && (isMainThread ? base : `${base}.thread${threadId}`);
if (out) {
  const totals = new Map<string, { calls: number; ms: number; rows: number }>();
  const shapes = new WeakMap<StatementSync, string>();
  const shapeOf = (stmt: StatementSync): string => {
    let s = shapes.get(stmt);
    if (s === undefined) {
      s = stmt.sourceSQL
        .replace(/\s+/g, ' ')
        .replace(/\?(, \?)+/g, '?…')
        .replace(/\(\?…\)(, \(\?…\))+/g, '(?…)…')
        .trim();
      shapes.set(stmt, s);
    }
    return s;
  };
  const started = performance.now();
  for (const method of ['run', 'all', 'get', 'iterate'] as const) {
    const original = StatementSync.prototype[method] as (...args: unknown[]) => unknown;
    (StatementSync.prototype as unknown as Record<string, unknown>)[method] = function (this: StatementSync, ...args: unknown[]) {
      const t0 = performance.now();
      const result = original.apply(this, args);
      const ms = performance.now() - t0;
      const key = shapeOf(this);
      const entry = totals.get(key) ?? { calls: 0, ms: 0, rows: 0 };
      entry.calls++;
      entry.ms += ms;
      if (Array.isArray(result)) entry.rows += result.length;
      else if (result && typeof result === 'object' && 'changes' in result) entry.rows += Number((result as { changes: number | bigint }).changes);
      totals.set(key, entry);
      return result;
    };
  }
  const dump = () => {
    const wall = performance.now() - started;
    const rows = [...totals].map(([sql, t]) => ({ sql, calls: t.calls, ms: Math.round(t.ms), us_per_call: Math.round((t.ms / t.calls) * 1000), rows: t.rows })).sort((a, b) => b.ms - a.ms);
    writeFileSync(out, JSON.stringify({ thread: isMainThread ? 'main' : threadId, wall_ms: Math.round(wall), sqlite_ms: rows.reduce((a, r) => a + r.ms, 0), statements: rows }, null, 1));
  };
  // A terminated worker gets no 'exit' event: write every 2 s as well.
  setInterval(dump, 2000).unref();
  process.on('exit', dump);
}
