/**
 * History at scale (issue 6): seeds --messages finished messages (default
 * 1,000,000) into a running gateway's SQLite file by direct SQL, then times the
 * first page of GET /v1/messages (what the cabinet's History asks, limit 25)
 * for each filter combination, --repeat times each; prints the median and the
 * worst per combination and one JSON line last. Target: every median under
 * 200 ms. The time is the request's round trip on 127.0.0.1, which is the
 * server's time plus well under a millisecond.
 *
 *   node bench/history.ts [--messages 1000000] [--repeat 7]
 */
import path from 'node:path';
import { authHeaders, checkNodeVersion, codeVersion, logger, machineInfo, median, numberFlag, parseBenchArgs, printResult, round, startServer, stopOnSignal, type Server } from './lib.ts';
import { DEFAULT_SHAPE, recipientOf, seedMessages } from './seed-messages.ts';

checkNodeVersion();
const { common, values } = parseBenchArgs('usage: node bench/history.ts [--messages N] [--repeat N]', { messages: { type: 'string' }, repeat: { type: 'string' } }, { duration: 0, connections: 1 });
if (common.db !== 'sqlite') throw new Error('the seed writes SQLite directly; --db postgres is not supported by this bench');
const n = numberFlag(values, 'messages', 1_000_000);
const repeat = numberFlag(values, 'repeat', 7);
const log = logger(common.quiet);

let server: Server | undefined;
stopOnSignal(() => server);
server = await startServer({ common, log });
try {
  const account = (await (await fetch(`${server.url}/v1/account`, { headers: authHeaders })).json()) as { id: string };
  log(`seeding ${n.toLocaleString('en')} messages into ${server.dataDir}`);
  const seedMs = seedMessages(path.join(server.dataDir, 'depesha.sqlite'), account.id, n, DEFAULT_SHAPE, log);
  log(`seeded in ${round(seedMs / 1000)} s`);

  const day = (daysAgo: number) => {
    const d = new Date(Date.now() - daysAgo * 86_400_000);
    d.setUTCHours(0, 0, 0, 0);
    return { since: d.toISOString(), until: new Date(d.getTime() + 86_400_000 - 1).toISOString() };
  };
  const week = { since: new Date(Date.now() - 17 * 86_400_000).toISOString(), until: new Date(Date.now() - 10 * 86_400_000).toISOString() };
  const to = recipientOf(1234);
  const combos: Record<string, Record<string, string>> = {
    none: {},
    to: { to },
    'status=delivered': { status: 'delivered' },
    'status=rejected (1 %)': { status: 'rejected' },
    group: { group: 'g7' },
    project: { project: 'p3' },
    'one day': day(10),
    'to + period': { to, ...week },
    'to + status': { to, status: 'undelivered' },
    'status + day': { status: 'expired', ...day(12) },
    'group + status': { group: 'g3', status: 'failed' },
    'project + status + week': { project: 'p1', status: 'rejected', ...week },
    'group + project + status + day': { group: 'g5', project: 'p2', status: 'undelivered', ...day(20) },
    'nothing matches (empty group)': { group: 'no-such-group', status: 'delivered' },
  };
  // The connection of the account request idled through the seed and the server has closed it: one request on a fresh one first.
  await fetch(`${server.url}/readyz`).then((r) => r.arrayBuffer()).catch(() => undefined);
  const rows: { combo: string; median_ms: number; max_ms: number; rows: number }[] = [];
  for (const [name, filter] of Object.entries(combos)) {
    const url = `${server.url}/v1/messages?${new URLSearchParams({ ...filter, limit: '25' })}`;
    const times: number[] = [];
    let count = 0;
    for (let i = 0; i < repeat; i++) {
      const t0 = performance.now();
      const res = await fetch(url, { headers: authHeaders });
      const body = (await res.json()) as { data?: unknown[]; error?: { message: string } };
      times.push(performance.now() - t0);
      if (res.status !== 200) throw new Error(`${name}: ${res.status} ${body.error?.message}`);
      count = body.data!.length;
    }
    rows.push({ combo: name, median_ms: round(median(times)), max_ms: round(Math.max(...times)), rows: count });
    log(`${name}: median ${round(median(times))} ms, max ${round(Math.max(...times))} ms, ${count} rows`);
  }
  const worst = Math.max(...rows.map((r) => r.median_ms));
  printResult(
    common.quiet,
    [`History first page with ${n.toLocaleString('en')} messages: worst median ${worst} ms over ${rows.length} filter combinations (target < 200 ms)`, ...rows.map((r) => `  ${r.combo.padEnd(34)} ${String(r.median_ms).padStart(7)} ms (max ${r.max_ms}), ${r.rows} rows`)],
    { bench: 'history', messages: n, repeat, seed_s: round(seedMs / 1000), worst_median_ms: worst, combos: rows, code: codeVersion(), machine: machineInfo() },
  );
} finally {
  await server.stop();
}
