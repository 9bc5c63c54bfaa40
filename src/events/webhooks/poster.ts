import { Worker } from 'node:worker_threads';
import { THREAD_HEAP_LIMITS } from '../../threads.ts';

/** One webhook request, signed already: the poster only sends it. */
export interface PostRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** the endpoint's key: its requests share `limit` */
  endpoint: string;
  /** requests in flight to this endpoint at most; the rest wait in order */
  limit: number;
}

/** What came of one POST. */
export interface Outcome {
  ok: boolean;
  statusCode: number | null;
  /** the first 1 KB of the answer */
  excerpt: string | null;
  error: string | null;
  latencyMs: number;
}

/**
 * A request that waited for its endpoint's slot when another request to that
 * endpoint failed: it was not sent (the sender pauses the endpoint on a
 * failure, and this one goes back with the rest).
 */
export const SKIPPED = 'skipped';

/**
 * Sends webhook requests, at most `limit` at a time per endpoint (the rest
 * wait in order, on the poster's own loop). `post` resolves undefined when the
 * poster was closed meanwhile (the delivery stays leased), SKIPPED when it was
 * not sent because another request to its endpoint failed first.
 */
export interface Poster {
  post(request: PostRequest): Promise<Outcome | typeof SKIPPED | undefined>;
  close(): Promise<void>;
}

type Send = (request: PostRequest) => Promise<Outcome | undefined>;

/**
 * The per-endpoint limit, kept where the requests go out: a slot is handed on
 * the moment its answer is in, without a round trip through the delivery
 * thread (whose loop blocks in SQLite for milliseconds at a time). When a
 * request fails, the ones still waiting for that endpoint are not sent.
 */
export class EndpointQueues {
  readonly #send: Send;
  readonly #endpoints = new Map<string, { active: number; waiting: { request: PostRequest; resolve: (o: Outcome | typeof SKIPPED | undefined) => void }[] }>();

  constructor(send: Send) {
    this.#send = send;
  }

  post(request: PostRequest): Promise<Outcome | typeof SKIPPED | undefined> {
    let e = this.#endpoints.get(request.endpoint);
    if (!e) this.#endpoints.set(request.endpoint, (e = { active: 0, waiting: [] }));
    const queue = e;
    return new Promise((resolve) => {
      queue.waiting.push({ request, resolve });
      this.#pump(request.endpoint);
    });
  }

  #pump(key: string): void {
    const e = this.#endpoints.get(key);
    if (!e) return;
    while (e.waiting.length > 0 && e.active < e.waiting[0]!.request.limit) {
      const { request, resolve } = e.waiting.shift()!;
      e.active++;
      void this.#send(request).then((outcome) => {
        e.active--;
        // The failure first: the sender pauses the endpoint on it, then takes the skipped ones back.
        resolve(outcome);
        if (outcome && !outcome.ok) for (const w of e.waiting.splice(0)) w.resolve(SKIPPED);
        if (e.active === 0 && e.waiting.length === 0) this.#endpoints.delete(key);
        else this.#pump(key);
      });
    }
  }
}

export interface PosterOptions {
  /** false (the default): no request goes to a private, loopback or link-local address (see address-guard.ts) */
  allowPrivateAddresses: boolean;
}

/** Starts a poster thread (a test's may be wrapped, to reach the worker). */
export type SpawnPosterThread = (options: PosterOptions) => Worker;

export const spawnPosterThread: SpawnPosterThread = (options) => new Worker(new URL('./poster-thread.ts', import.meta.url), { workerData: options, resourceLimits: THREAD_HEAP_LIMITS });

/** A thread that dies sooner than this after its start is restarted only after a back-off (it may die at every start). */
const STABLE_AFTER_MS = 5_000;
const RESTART_MAX_MS = 30_000;

/**
 * Sends from a worker thread of its own. The delivery thread blocks in
 * synchronous SQLite calls (statements, COMMIT) for milliseconds at a time;
 * answers waiting on its event loop meanwhile made every POST slower and
 * webhooks queue up under load. Here the HTTP client (undici, TLS, streams)
 * has a loop of its own, and the delivery thread only signs, leases and
 * records.
 *
 * A thread that dies (a crash, an out-of-memory kill) is started again: the
 * requests it had are answered as failed attempts, so they are retried like
 * any failure, and later requests go to the new thread.
 */
export class ThreadPoster implements Poster {
  readonly #options: PosterOptions;
  readonly #spawn: SpawnPosterThread;
  /** undefined while a restart waits out its back-off */
  #worker: Worker | undefined;
  #startedAt = 0;
  /** restarts in a row of a thread that died soon after its start */
  #quickDeaths = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  readonly #waiting = new Map<number, (outcome: Outcome | typeof SKIPPED | undefined) => void>();
  #next = 1;
  #closed = false;

  constructor(options: PosterOptions = { allowPrivateAddresses: false }, spawn: SpawnPosterThread = spawnPosterThread) {
    this.#options = options;
    this.#spawn = spawn;
    this.#start();
  }

  post(request: PostRequest): Promise<Outcome | typeof SKIPPED | undefined> {
    if (this.#closed) return Promise.resolve(undefined);
    const worker = this.#worker;
    if (!worker) return Promise.resolve(failure('the webhook poster thread stopped and is being restarted'));
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      worker.postMessage({ id, request });
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#restartTimer);
    for (const resolve of this.#waiting.values()) resolve(undefined);
    this.#waiting.clear();
    await this.#worker?.terminate();
  }

  #start(): void {
    const worker = this.#spawn(this.#options);
    this.#worker = worker;
    this.#startedAt = Date.now();
    worker.unref();
    worker.on('message', (m: { id: number; outcome: Outcome | typeof SKIPPED }) => {
      const resolve = this.#waiting.get(m.id);
      this.#waiting.delete(m.id);
      resolve?.(m.outcome);
    });
    let reason = '';
    worker.on('error', (err) => (reason = `: ${err.message}`));
    worker.on('exit', (code) => this.#died(worker, `the webhook poster thread stopped (exit code ${code}${reason}); it is restarted`));
  }

  /** The thread is gone, with the requests it had: they fail (and are retried), and a new thread takes the next ones. */
  #died(worker: Worker, error: string): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const resolve of waiting) resolve(this.#closed ? undefined : failure(error));
    if (this.#closed) return;
    this.#quickDeaths = Date.now() - this.#startedAt < STABLE_AFTER_MS ? this.#quickDeaths + 1 : 0;
    if (this.#quickDeaths <= 1) return this.#start();
    this.#restartTimer = setTimeout(() => this.#closed || this.#start(), Math.min(RESTART_MAX_MS, 100 * 2 ** (this.#quickDeaths - 2)));
    this.#restartTimer.unref();
  }
}

/** A failed attempt (retried like any other) that never reached the endpoint's answer. */
function failure(error: string): Outcome {
  return { ok: false, statusCode: null, excerpt: null, error, latencyMs: 0 };
}
