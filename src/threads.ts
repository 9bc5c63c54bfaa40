import type { ResourceLimits } from 'node:worker_threads';

/**
 * Heap settings of the worker threads (delivery, webhook poster). V8 sizes
 * the young generation from the machine's memory: on a large machine each
 * isolate grows it past 100 MB, which the gateway's short-lived garbage never
 * needs, and a process of three isolates would sit at 500-700 MB. A young
 * generation of 12 MB (semi-spaces of 4 MB, as `--max-semi-space-size=4` on
 * the main thread, see package.json `start` and docs/deploy.md) keeps a
 * scavenge short and cheap; the old generation keeps V8's default.
 */
export const THREAD_HEAP_LIMITS: ResourceLimits = { maxYoungGenerationSizeMb: 12 };
