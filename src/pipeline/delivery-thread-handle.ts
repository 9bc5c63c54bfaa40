import { Worker } from 'node:worker_threads';
import type { Config } from '../config.ts';
import { API_ERRORS, ApiError, type ApiErrorCode } from '../errors.ts';
import type { CallbackReply, CallbackRequest } from '../connectors/types.ts';
import type { ConnectorView } from './delivery.ts';
import type { EventBus, StatusChange } from '../events/bus.ts';
import type { Logger } from '../log.ts';
import type { AcceptJob } from './accept.ts';
import type { CancelResult } from './cancel.ts';
import type { Delivery } from './delivery.ts';
import { THREAD_HEAP_LIMITS } from '../threads.ts';

export type ToDelivery =
  | { type: 'enqueue'; ids: string[] }
  /** the accepts of one event-loop turn, in one post */
  | { type: 'accept'; items: { id: number; job: AcceptJob }[] }
  | { type: 'reload'; id: number }
  | { type: 'cancel'; id: number; accountId: string; messageId: string }
  | { type: 'cancelMailing'; id: number; accountId: string; mailingId: string }
  | { type: 'callback'; id: number; connectorId: string; request: CallbackRequest }
  | { type: 'drain' }
  | { type: 'stop' };
export type FromDelivery =
  | { type: 'ready' }
  | { type: 'drained' }
  | { type: 'stopped' }
  | { type: 'status'; changes: StatusChange[]; depth: number }
  | { type: 'connectors'; states: ConnectorView[]; longestResponseMs: number }
  | { type: 'reloaded'; id: number; error?: string }
  | { type: 'cancelled'; id: number; result?: CancelResult; error?: string }
  | { type: 'mailingCancelled'; id: number; stopped?: number; error?: string }
  /** the answers to accepts settled in one turn of the thread, in one post */
  | { type: 'accepted'; results: { id: number; error?: string; code?: string | undefined }[] }
  | { type: 'callbackReply'; id: number; reply?: CallbackReply; error?: string };

/** beyond the longest response timeout, for a submit waiting for its window and for recording the outcomes */
export const DRAIN_MARGIN_MS = 10_000;
/** after the drain, for unbinding the connectors and closing the database */
export const STOP_REST_MS = 10_000;

/**
 * How long the delivery thread has to finish its sends at shutdown before it
 * is stopped hard: longer than the longest response timeout of its
 * connectors (docs/deploy.md: TimeoutStopSec must be above this plus STOP_REST_MS).
 */
export function stopDeadlineMs(longestResponseMs: number): number {
  return longestResponseMs + DRAIN_MARGIN_MS;
}

/**
 * The main thread's side of the delivery thread. The HTTP API and the
 * delivery pipeline each get a core: waiting never waits behind sending.
 * If the thread dies it is started again; messages it held are in the
 * database and become due again (its leases are recovered on start).
 */
export async function startDeliveryThread(config: Config, bus: EventBus, log: Logger, options: { pgSchema?: string | undefined; pollMs?: number | undefined }): Promise<Delivery> {
  let worker: Worker;
  let depth = 0;
  let connectorStates: ConnectorView[] = [];
  /** the thread's connectors' longest response timeout, as it last said */
  let longestResponseMs = 0;
  let stopping = false;
  let pending: string[] = [];
  let flushScheduled = false;
  let alive = false;
  /** the shutdown's drain, once it began (Delivery.drain) */
  let draining: Promise<void> | undefined;
  let nextRequestId = 1;
  /** accepts, reloads and cancels posted to the thread, by id, until it answers */
  const waiting = new Map<number, { resolve: (value?: unknown) => void; reject: (err: Error) => void }>();

  const spawn = () =>
    new Promise<void>((resolve, reject) => {
      worker = new Worker(new URL('./delivery-thread.ts', import.meta.url), {
        resourceLimits: THREAD_HEAP_LIMITS,
        workerData: { config, ...(options.pgSchema ? { pgSchema: options.pgSchema } : {}), ...(options.pollMs ? { pollMs: options.pollMs } : {}) },
      });
      worker.on('message', (message: FromDelivery) => {
        if (message.type === 'ready') {
          alive = true;
          resolve();
        }
        else if (message.type === 'accepted') {
          for (const result of message.results) {
            const waiter = waiting.get(result.id);
            waiting.delete(result.id);
            if (result.error === undefined) waiter?.resolve();
            // An API error (insufficient_balance from the reserve) crosses the thread as its code and message.
            else if (result.code !== undefined && result.code in API_ERRORS) waiter?.reject(new ApiError(result.code as ApiErrorCode, result.error));
            else waiter?.reject(Object.assign(new Error(result.error), result.code === undefined ? {} : { code: result.code }));
          }
        } else if (message.type === 'status') {
          depth = message.depth;
          bus.publishStatus(message.changes);
        } else if (message.type === 'connectors') {
          connectorStates = message.states;
          longestResponseMs = message.longestResponseMs;
        } else if (message.type === 'reloaded') {
          const waiter = waiting.get(message.id);
          waiting.delete(message.id);
          if (message.error === undefined) waiter?.resolve();
          else waiter?.reject(new Error(message.error));
        } else if (message.type === 'mailingCancelled') {
          const waiter = waiting.get(message.id);
          waiting.delete(message.id);
          if (message.error === undefined) waiter?.resolve(message.stopped);
          else waiter?.reject(new Error(message.error));
        } else if (message.type === 'callbackReply') {
          const waiter = waiting.get(message.id);
          waiting.delete(message.id);
          if (message.error === undefined) waiter?.resolve(message.reply);
          else waiter?.reject(new Error(message.error));
        } else if (message.type === 'cancelled') {
          // Posted after the change's 'status' message: the bus has it before the caller hears back.
          const waiter = waiting.get(message.id);
          waiting.delete(message.id);
          if (message.error === undefined) waiter?.resolve(message.result);
          else waiter?.reject(new Error(message.error));
        }
      });
      worker.once('error', (err) => {
        log.error({ err }, 'delivery thread failed');
        reject(err);
      });
      worker.once('exit', (code) => {
        alive = false;
        // Whatever it was storing is unknown: those requests fail and are not acknowledged.
        for (const waiter of waiting.values()) waiter.reject(new Error('delivery thread exited'));
        waiting.clear();
        if (stopping || draining !== undefined) return; // shutting down: not started again
        log.error({ code }, 'delivery thread exited; starting it again');
        setTimeout(() => void spawn().catch(() => {}), 1000).unref();
      });
    });
  await spawn();

  /**
   * Stops the thread's sending (Delivery.drain) and waits for the submits in
   * flight to be answered and recorded: a thread stopped hard while a
   * submit's answer is still due leaves that message claimed, and it is sent
   * again after its lease (a duplicate). So the wait is bounded only above
   * the longest response timeout of the connectors (DRAIN_MARGIN_MS more);
   * a thread still sending then is stuck, and is stopped hard.
   */
  const drain = () =>
    (draining ??= new Promise<void>((resolve) => {
      if (!alive) return resolve();
      const limitMs = stopDeadlineMs(longestResponseMs);
      const timer = setTimeout(() => {
        log.error({ ms: limitMs }, 'the delivery thread did not finish its sends in time; it is stopped hard (a submit still unanswered may be sent again after its lease)');
        void worker.terminate();
      }, limitMs);
      timer.unref();
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      worker.on('message', (m: FromDelivery) => m.type === 'drained' && done());
      worker.once('exit', done);
      worker.postMessage({ type: 'drain' } satisfies ToDelivery);
    }));

  /** accepts of this turn, posted together once it ends (one post, not one per request) */
  let outgoing: { id: number; job: AcceptJob }[] = [];
  const postAccepts = () => {
    const items = outgoing;
    outgoing = [];
    if (alive) worker.postMessage({ type: 'accept', items } satisfies ToDelivery);
    else for (const { id } of items) {
      // The thread died since they were queued: its exit already failed the others; these were never posted.
      waiting.get(id)?.reject(Object.assign(new Error('the delivery thread is not running'), { code: 'EPIPE' }));
      waiting.delete(id);
    }
  };

  return {
    accept(job) {
      // EPIPE makes the HTTP layer answer 503 service_unavailable: retry later, nothing was stored.
      if (stopping || !alive) return Promise.reject(Object.assign(new Error('the delivery thread is not running'), { code: 'EPIPE' }));
      const id = nextRequestId++;
      return new Promise<void>((resolve, reject) => {
        waiting.set(id, { resolve: () => resolve(), reject });
        if (outgoing.length === 0) setImmediate(postAccepts);
        outgoing.push({ id, job });
      });
    },
    reload() {
      if (stopping || !alive) return Promise.resolve(); // a restarted thread reads the store anyway
      const id = nextRequestId++;
      return new Promise<void>((resolve, reject) => {
        waiting.set(id, { resolve: () => resolve(), reject });
        worker.postMessage({ type: 'reload', id } satisfies ToDelivery);
      });
    },
    cancel(accountId, messageId) {
      if (stopping || !alive) return Promise.reject(Object.assign(new Error('the delivery thread is not running'), { code: 'EPIPE' }));
      const id = nextRequestId++;
      return new Promise<CancelResult>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (value?: unknown) => void, reject });
        worker.postMessage({ type: 'cancel', id, accountId, messageId } satisfies ToDelivery);
      });
    },
    cancelMailing(accountId, mailingId) {
      // Not running: the thread goes on with the mailing's cancel when it starts again (the cursor is in the store).
      if (stopping || !alive) return Promise.reject(Object.assign(new Error('the delivery thread is not running'), { code: 'EPIPE' }));
      const id = nextRequestId++;
      return new Promise<number>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (value?: unknown) => void, reject });
        worker.postMessage({ type: 'cancelMailing', id, accountId, mailingId } satisfies ToDelivery);
      });
    },
    callback(connectorId, request) {
      if (stopping || !alive) return Promise.resolve({ status: 503, body: 'the gateway is restarting; send the report again' });
      const id = nextRequestId++;
      return new Promise<CallbackReply>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (value?: unknown) => void, reject });
        worker.postMessage({ type: 'callback', id, connectorId, request } satisfies ToDelivery);
      });
    },
    enqueue(ids) {
      if (stopping || !alive) return; // the scheduler finds them once the thread is back
      pending.push(...ids);
      if (flushScheduled) return;
      flushScheduled = true;
      setImmediate(() => {
        flushScheduled = false;
        const message: ToDelivery = { type: 'enqueue', ids: pending };
        pending = [];
        worker.postMessage(message);
      });
    },
    get depth() {
      return depth;
    },
    connectors() {
      if (alive) return connectorStates;
      const now = Date.now();
      return connectorStates.map((c) => ({ ...c, status: 'down' as const, detail: 'the delivery thread is restarting', since: now, links: { up: 0, total: c.links.total }, inFlight: 0 }));
    },
    drain,
    get longestResponseMs() {
      return longestResponseMs;
    },
    async stop() {
      await drain();
      stopping = true;
      if (!alive) return void (await worker.terminate()); // it exited (or was stopped hard) while draining
      const stopped = new Promise<void>((resolve) => {
        worker.on('message', (m: FromDelivery) => m.type === 'stopped' && resolve());
        worker.once('exit', () => resolve());
      });
      worker.postMessage({ type: 'stop' } satisfies ToDelivery);
      // Drained: no send is left in flight, only the connectors' unbinds and the database to close.
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, STOP_REST_MS).unref());
      await Promise.race([stopped, timeout]);
      await worker.terminate();
    },
  };
}
