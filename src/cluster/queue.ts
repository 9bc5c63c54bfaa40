import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import type { Dispatcher } from '../pipeline/dispatcher.ts';

const MAX_PENDING = 200_000;
/** how long ids handed back wait in the queue: a worker that keeps drawing them does not spin */
const HAND_BACK_DELAY_MS = 50;

export interface QueueDispatcherOptions {
  /** Redis key prefix of this cluster */
  prefix: string;
  /** false on nodes without the worker role: they only hand work over */
  consume: boolean;
  /** ids per job at most, default 100 */
  batchSize?: number;
  /** jobs one node works on at once, default 4 */
  concurrency?: number;
  /** an id handed over is not handed over again by this node for this long, default 5000 ms */
  rehandMs?: number;
}

/**
 * The cluster's dispatcher: ids of due messages go to the workers as BullMQ
 * jobs, one job per batch of ids. As in the embedded dispatcher the database
 * row is the truth: a job lost (Redis lost it, a node died holding it) leaves
 * its messages due, and the scheduler finds them again; a job done twice finds
 * its messages claimed already (claiming checks the status).
 */
export class QueueDispatcher implements Dispatcher {
  readonly #queue: Queue;
  readonly #redis: Redis;
  readonly #log: Logger;
  readonly #options: Required<QueueDispatcherOptions>;
  #worker: Worker | undefined;
  /** the worker closing: no more jobs taken here (pause, stop) */
  #pausing: Promise<void> | undefined;
  #pending: string[] = [];
  #flushing: Promise<void> | undefined;
  /** ids this node handed over lately, and when: the scheduler's next polls do not hand them over again */
  readonly #recent = new Map<string, number>();
  #waiting = 0;
  readonly #depthTimer: NodeJS.Timeout;
  #stopped = false;

  constructor(redis: Redis, log: Logger, options: QueueDispatcherOptions) {
    this.#redis = redis;
    this.#log = log;
    this.#options = { batchSize: 100, concurrency: 4, rehandMs: 5000, ...options };
    this.#queue = new Queue('send', { connection: redis, prefix: options.prefix });
    this.#queue.on('error', (err) => this.#log.warn({ err }, 'dispatch queue error'));
    this.#depthTimer = setInterval(() => {
      this.#queue.getWaitingCount().then(
        (n) => (this.#waiting = n * this.#options.batchSize),
        () => {},
      );
      const old = Date.now() - this.#options.rehandMs;
      for (const [id, at] of this.#recent) if (at < old) this.#recent.delete(id);
    }, 500);
    this.#depthTimer.unref();
  }

  /** ids waiting: those not yet handed to Redis, and the waiting jobs' (counted as full) */
  get depth(): number {
    return this.#pending.length + this.#waiting;
  }

  enqueue(ids: readonly string[]): void {
    if (this.#stopped) return;
    const now = Date.now();
    for (const id of ids) {
      // While Redis is away the ids pile up here; past this many the scheduler finds the rest in the database.
      if (this.#pending.length >= MAX_PENDING) break;
      const at = this.#recent.get(id);
      if (at !== undefined && now - at < this.#options.rehandMs) continue;
      this.#recent.set(id, now);
      this.#pending.push(id);
    }
    if (this.#pending.length > 0) this.#flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#flush());
  }

  // The ids of one event-loop turn (one request's, or one scheduler poll's) go as few jobs, in one round trip.
  async #flush(): Promise<void> {
    const ids = this.#pending;
    this.#pending = [];
    this.#flushing = undefined;
    const jobs = [];
    for (let i = 0; i < ids.length; i += this.#options.batchSize) {
      jobs.push({ name: 'ids', data: { ids: ids.slice(i, i + this.#options.batchSize) }, opts: { removeOnComplete: true, removeOnFail: true } });
    }
    try {
      await this.#queue.addBulk(jobs);
    } catch (err) {
      // They stay due in the database; the scheduler hands them over again.
      for (const id of ids) this.#recent.delete(id);
      this.#log.warn({ err, count: ids.length }, 'handing messages to the queue failed; the scheduler picks them up');
    }
  }

  /**
   * Ids this worker claimed but cannot send (their connector's binds are on
   * other workers): one job, a little later, for whichever worker takes it. A
   * job that lands on a worker without the binds again comes back again.
   */
  handBack(ids: readonly string[]): void {
    if (this.#stopped || ids.length === 0) return;
    for (const id of ids) this.#recent.set(id, Date.now());
    this.#queue
      .add('ids', { ids: [...ids] }, { delay: HAND_BACK_DELAY_MS, removeOnComplete: true, removeOnFail: true })
      .catch((err: unknown) => this.#log.warn({ err, count: ids.length }, 'handing messages back to the queue failed; the scheduler picks them up'));
  }

  start(handler: (ids: string[]) => Promise<void>): void {
    if (!this.#options.consume) return;
    this.#worker = new Worker<{ ids: string[] }>(
      'send',
      async (job) => {
        this.#log.debug({ job: job.id, ids: job.data.ids }, 'dispatch job');
        await handler(job.data.ids);
      },
      // The worker takes its own blocking connection; lockDuration bounds how long a dead node's job waits before it is run again.
      { connection: this.#redis, prefix: this.#options.prefix, concurrency: this.#options.concurrency, lockDuration: 10_000 },
    );
    this.#worker.on('error', (err) => this.#log.warn({ err }, 'dispatch worker error'));
  }

  /** Stops taking jobs and waits for those in hand; ids enqueued or handed back still go to the queue (a node shutting down). */
  pause(): Promise<void> {
    return (this.#pausing ??= this.#worker?.close() ?? Promise.resolve());
  }

  /** Stops taking jobs, waits for those in hand, and hands over what is still pending here. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#depthTimer);
    await this.pause();
    await this.#flushing;
    await this.#queue.close();
  }
}
