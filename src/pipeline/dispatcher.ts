/**
 * Carries ids of messages that are due to the sender. The database row is the
 * truth; the dispatcher only says "look at these now". Losing an id is safe
 * (the scheduler finds every due message again); handing one over twice is
 * safe (claiming checks the status it leaves).
 */
export interface Dispatcher {
  /** ids of committed messages that are due now */
  enqueue(ids: readonly string[]): void;
  start(handler: (ids: string[]) => Promise<void>): void;
  /** stops taking work and waits for batches in flight */
  stop(): Promise<void>;
  /**
   * Stops taking work and waits for batches in flight, but still hands ids on
   * (a shared queue: other workers take them); stop() ends the rest. Left out
   * where there is nobody to hand them to (in process).
   */
  pause?(): Promise<void>;
  /** ids waiting, for metrics and back-pressure */
  readonly depth: number;
}

export interface InProcessDispatcherOptions {
  /** ids handed to the sender at once, default 500 */
  batchSize?: number;
  /** batches in flight at once, default 4 */
  concurrency?: number;
  /** ids held at most; beyond it enqueue drops them and the scheduler picks them up later, default 200,000 */
  maxDepth?: number;
}

/** The embedded single-process dispatcher: an in-memory queue of ids, batched. */
export class InProcessDispatcher implements Dispatcher {
  readonly #batchSize: number;
  readonly #concurrency: number;
  readonly #maxDepth: number;
  #queue: string[] = [];
  #head = 0;
  /** ids queued or in flight, so the same id is not handed over twice at once */
  readonly #known = new Set<string>();
  #inFlight = new Set<Promise<void>>();
  #handler: ((ids: string[]) => Promise<void>) | undefined;
  #pumpScheduled = false;
  #stopped = false;

  constructor(options: InProcessDispatcherOptions = {}) {
    this.#batchSize = options.batchSize ?? 500;
    this.#concurrency = options.concurrency ?? 4;
    this.#maxDepth = options.maxDepth ?? 200_000;
  }

  get depth(): number {
    return this.#queue.length - this.#head;
  }

  enqueue(ids: readonly string[]): void {
    if (this.#stopped) return;
    for (const id of ids) {
      if (this.#known.has(id) || this.#known.size >= this.#maxDepth) continue;
      this.#known.add(id);
      this.#queue.push(id);
    }
    this.#schedulePump();
  }

  start(handler: (ids: string[]) => Promise<void>): void {
    this.#handler = handler;
    this.#stopped = false;
    this.#schedulePump();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  // Pumping on the next macrotask lets a burst of accepts in one tick form one batch.
  #schedulePump(): void {
    if (this.#pumpScheduled || !this.#handler) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    const handler = this.#handler;
    if (!handler) return;
    while (!this.#stopped && this.#inFlight.size < this.#concurrency && this.depth > 0) {
      const batch = this.#queue.slice(this.#head, this.#head + this.#batchSize);
      this.#head += batch.length;
      if (this.#head > 10_000 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      const run: Promise<void> = handler(batch)
        .catch(() => {
          // The handler logs; the ids stay due in the database and come back through the scheduler.
        })
        .finally(() => {
          for (const id of batch) this.#known.delete(id);
          this.#inFlight.delete(run);
          this.#pump();
        });
      this.#inFlight.add(run);
    }
  }
}
