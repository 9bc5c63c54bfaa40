/**
 * Summarises a V8 .cpuprofile (from `--cpu-prof DIR` on any bench): the
 * functions with the most self time, self time by package/source file, and the
 * inclusive time of chosen project functions.
 *
 *   node bench/profile-summary.ts PROFILE.cpuprofile [--top 30] [--inclusive name1,name2]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values, positionals } = parseArgs({
  options: { top: { type: 'string', default: '30' }, inclusive: { type: 'string' } },
  allowPositionals: true,
});
if (positionals.length !== 1) {
  process.stderr.write('usage: node bench/profile-summary.ts PROFILE.cpuprofile [--top 30] [--inclusive fnA,fnB]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Self time per node, in microseconds (each sample's delta belongs to the node sampled).
const selfUs = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
// Percentages are of busy time: idle samples (waiting for I/O or work) are left out.
let idleUs = 0;
for (const [id, us] of selfUs) if (byId.get(id)!.callFrame.functionName === '(idle)') idleUs += us;
const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0) - idleUs;

function shortUrl(url: string): string {
  if (!url) return '(native)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 14).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  if (url.startsWith('node:')) return url;
  return url.replace(/^file:\/\//, '');
}

const pct = (us: number) => `${((us / totalUs) * 100).toFixed(1).padStart(5)}%`;

// Top functions by self time.
const byFn = new Map<string, number>();
const byModule = new Map<string, number>();
for (const [id, us] of selfUs) {
  const f = byId.get(id)!.callFrame;
  if (f.functionName === '(idle)') continue;
  const key = `${f.functionName || '(anonymous)'}  ${shortUrl(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''}`;
  byFn.set(key, (byFn.get(key) ?? 0) + us);
  const mod = f.url ? shortUrl(f.url) : f.functionName.startsWith('(') ? f.functionName : '(native)';
  byModule.set(mod, (byModule.get(mod) ?? 0) + us);
}
const top = Number(values.top);
console.log(`profile: ${((totalUs + idleUs) / 1e6).toFixed(1)} s sampled, ${(totalUs / 1e6).toFixed(1)} s busy; percentages are of busy time`);
console.log(`\ntop ${top} functions by self time:`);
for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${k}`);
console.log(`\nself time by package / source file:`);
for (const [k, us] of [...byModule].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${k}`);

// Inclusive time of named functions: a sample counts once if any ancestor frame has the name.
const names = (values.inclusive ?? '').split(',').filter(Boolean);
if (names.length > 0) {
  const inclusive = new Map<string, number>(names.map((n) => [n, 0]));
  for (const [id, us] of selfUs) {
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const fn = byId.get(cur)!.callFrame.functionName;
      if (inclusive.has(fn) && !seen.has(fn)) {
        seen.add(fn);
        inclusive.set(fn, inclusive.get(fn)! + us);
      }
    }
  }
  console.log(`\ninclusive time (the function and everything it calls):`);
  for (const [k, us] of [...inclusive].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(us)}  ${k}`);
}
