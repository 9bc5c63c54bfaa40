import v8 from 'node:v8';

/**
 * How far V8 lets an old generation grow past what survived the last full
 * collection before the next one. Its own factor (up to 4×, chosen from the
 * machine's memory) let the delivery thread's old space fill with 40+ MB of
 * garbage between collections; 20 % keeps a running mailing under 300 MB
 * (bench/README.md, Mailing). Process-wide, so it holds for every thread;
 * imported first by main.ts, before any worker thread starts.
 */
export const HEAP_GROWING_PERCENT = 20;

v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
