import v8 from 'node:v8';

/**
 * How far V8 lets an old generation grow past what survived the last full
 * collection before the next one, in percent. Its own factor (up to 4×,
 * chosen from the machine's memory) let the delivery thread's old space fill
 * with 40+ MB of garbage between collections; 20 % keeps a running mailing
 * under 300 MB (bench/README.md, Mailing), at a few per cent of throughput.
 * `DEPESHA_HEAP_GROWING_PERCENT` changes it; 0 leaves V8's own. Process-wide,
 * so it holds for every thread; imported first by main.ts, before any worker
 * thread starts.
 */
export const DEFAULT_HEAP_GROWING_PERCENT = 20;

const raw = process.env.DEPESHA_HEAP_GROWING_PERCENT;
const percent = raw === undefined || raw === '' ? DEFAULT_HEAP_GROWING_PERCENT : Number(raw);
if (!Number.isInteger(percent) || percent < 0 || percent > 1000) {
  process.stderr.write(`DEPESHA_HEAP_GROWING_PERCENT must be a whole number 0–1000 (0: V8's own factor), got ${JSON.stringify(raw)}\n`);
  process.exit(2);
}
if (percent > 0) v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
