/**
 * A preload that records every garbage collection of 5 ms or more, and every
 * event-loop stall of 20 ms or more past its 20-ms tick, of each process and
 * thread it is loaded in, one line each, to `$BENCH_GC_TRACE_DIR/<pid>-<thread>.log`:
 * `<epoch ms start> <gc|stall> <ms> <kind> <argv>`.
 *
 *   BENCH_GC_TRACE_DIR=/tmp/gc NODE_OPTIONS="--import ./bench/gc-trace.ts" node bench/cluster.ts --explain 50
 *
 * NODE_OPTIONS reaches every child process the bench starts (the nodes), and
 * Node loads it in their worker threads too. bench/cluster.ts --explain reads
 * the directory back and lists the pauses that overlap each slow message.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';

const dir = process.env.BENCH_GC_TRACE_DIR;
if (dir) {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${process.pid}-${threadId}.log`);
  const who = process.argv.slice(2).join(' ').slice(0, 60) || '(thread)';
  const origin = performance.timeOrigin;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.duration >= 5) appendFileSync(file, `${Math.round(origin + e.startTime)} gc ${e.duration.toFixed(1)} ${((e as { detail?: { kind?: number } }).detail)?.kind ?? '?'} ${who}\n`);
    }
  }).observe({ entryTypes: ['gc'] });
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    const late = now - last - 20;
    if (late >= 20) appendFileSync(file, `${Math.round(origin + last + 20)} stall ${late.toFixed(1)} - ${who}\n`);
    last = now;
  }, 20).unref();
}
