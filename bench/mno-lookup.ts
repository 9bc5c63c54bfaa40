/**
 * Micro-benchmark of the operator lookup alone (src/sms/mno.ts): the real
 * registry file in memory, random numbers of the DEF 9xx space (+7 9xx …, so
 * some fall into gaps and answer null), a ported-numbers Map of realistic
 * size in front. Reports ns per lookup, and the time to parse the file and
 * build the index. One process, no server, a few seconds.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseRegistry } from '../src/sms/mno-csv.ts';
import { MnoIndex, type PortedEntry } from '../src/sms/mno.ts';
import { checkNodeVersion, codeVersion, fail, machineInfo, median, printResult, REPO_ROOT, round } from './lib.ts';

const USAGE = `usage: node bench/mno-lookup.ts [--file CSV] [--lookups N] [--ported N] [--runs N] [--quiet]

  --file CSV     registry file (default ../shared/data/DEF-9xx.csv)
  --lookups N    lookups per run (default 5000000)
  --ported N     ported numbers in the Map in front of the ranges (default 100000)
  --runs N       runs; the median is reported (default 3)`;

checkNodeVersion();
let values;
try {
  ({ values } = parseArgs({
    options: {
      file: { type: 'string', default: path.join(REPO_ROOT, '../shared/data/DEF-9xx.csv') },
      lookups: { type: 'string', default: '5000000' },
      ported: { type: 'string', default: '100000' },
      runs: { type: 'string', default: '3' },
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
const whole = (name: 'lookups' | 'ported' | 'runs') => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < (name === 'ported' ? 0 : 1)) fail(`--${name} must be a whole number`);
  return n;
};
const lookups = whole('lookups');
const portedCount = whole('ported');
const runs = whole('runs');

const randomNumber = () => `79${String(Math.floor(Math.random() * 1e9)).padStart(9, '0')}`;

const t0 = performance.now();
const parsed = parseRegistry(readFileSync(values.file, 'utf8'));
if (!parsed.ok) fail(`${values.file} does not parse: ${JSON.stringify(parsed.problems.slice(0, 3))}`);
const parseMs = performance.now() - t0;
const ported: PortedEntry[] = Array.from({ length: portedCount }, () => ({ number: randomNumber(), operator: 'megafon', operatorName: null, region: null }));
const t1 = performance.now();
const index = new MnoIndex(parsed.rows, ported);
const buildMs = performance.now() - t1;

// Numbers are made before timing; the loop walks them again and again.
const numbers = Array.from({ length: Math.min(lookups, 1_000_000) }, randomNumber);
let covered = 0;
const nsPerLookup: number[] = [];
for (let run = 0; run < runs + 1; run++) {
  let hits = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < lookups; i++) if (index.lookup(numbers[i % numbers.length]!) !== null) hits++;
  const ns = Number(process.hrtime.bigint() - start) / lookups;
  // The first run warms the JIT up and is not counted.
  if (run > 0) nsPerLookup.push(ns);
  covered = hits / lookups;
}

const result = {
  bench: 'mno-lookup',
  code: codeVersion(),
  machine: machineInfo(),
  file: path.basename(values.file),
  ranges: index.rangeCount,
  ported: index.portedCount,
  lookups_per_run: lookups,
  runs,
  ns_per_lookup_median: round(median(nsPerLookup), 1),
  ns_per_lookup_runs: nsPerLookup.map((x) => round(x, 1)),
  share_with_operator: round(covered, 3),
  parse_ms: round(parseMs, 1),
  build_ms: round(buildMs, 1),
};
printResult(
  values.quiet,
  [
    `${result.ranges} ranges, ${result.ported} ported numbers; ${lookups} random 79xxxxxxxxx lookups per run, ${runs} runs`,
    `lookup: median ${result.ns_per_lookup_median} ns (runs: ${result.ns_per_lookup_runs.join(', ')}); ${round(covered * 100, 1)} % had an operator`,
    `parse the file: ${result.parse_ms} ms; build the index: ${result.build_ms} ms`,
  ],
  result,
);
