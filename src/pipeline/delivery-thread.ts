import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config.ts';
import { ApiError } from '../errors.ts';
import { EventBus, type StatusChange } from '../events/bus.ts';
import { createLogger } from '../log.ts';
import { openDatabase } from '../store/db.ts';
import { startDelivery } from './delivery.ts';
import type { FromDelivery, ToDelivery } from './delivery-thread-handle.ts';

/**
 * Entry of the delivery thread: its own database connection, the whole
 * delivery side, and messages to and from the main thread (ids in, committed
 * status changes out).
 */
interface Data {
  config: Config;
  pgSchema?: string;
  pollMs?: number;
}

const port = parentPort;
if (!port) throw new Error('delivery-thread.ts runs as a worker thread');
const { config, pgSchema, pollMs } = workerData as Data;
const log = createLogger(config.logLevel).child({ thread: 'delivery' });
const post = (message: FromDelivery) => port.postMessage(message);

const database = await openDatabase({
  databaseUrl: config.databaseUrl,
  sqlitePath: path.join(config.dataDir, 'depesha.sqlite'),
  sqliteSynchronous: config.sqlite.synchronous,
  ...(pgSchema ? { pgSchema } : {}),
});
const bus = new EventBus();
// The units of one commit publish their changes one by one and not in id order: one post per turn,
// sorted by event id, hands the main thread the changes in commit order (and costs fewer posts).
let committed: StatusChange[] = [];
const postStatus = () => {
  if (committed.length === 0) return;
  const sorted = committed.sort((a, b) => (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0));
  committed = [];
  // Changes may come while startDelivery is still starting (its recovery): the depth is 0 until it is up.
  post({ type: 'status', changes: sorted, depth: started?.depth ?? 0 });
};
let started: Awaited<ReturnType<typeof startDelivery>> | undefined;
bus.onStatus((changes) => {
  if (committed.length === 0) setImmediate(postStatus);
  for (const c of changes) committed.push(c);
});
// The answers to the accepts of one commit settle together: one post per turn carries them all.
let answers: Extract<FromDelivery, { type: 'accepted' }>['results'] = [];
const answer = (result: (typeof answers)[number]) => {
  if (answers.length === 0) setImmediate(() => {
    const results = answers;
    answers = [];
    post({ type: 'accepted', results });
  });
  answers.push(result);
};
const delivery = await startDelivery(database.db, database.dialect, config, bus, log, { pollMs });
started = delivery;

port.on('message', (message: ToDelivery) => {
  if (message.type === 'enqueue') delivery.enqueue(message.ids);
  else if (message.type === 'accept') {
    for (const { id, job } of message.items) {
      delivery.accept(job).then(
        () => answer({ id }),
        (err: unknown) => {
          if (!(err instanceof ApiError)) log.error({ err }, 'storing accepted messages failed');
          answer({ id, error: err instanceof Error ? err.message : String(err), code: (err as { code?: unknown }).code === undefined ? undefined : String((err as { code?: unknown }).code) });
        },
      );
    }
  }
  else if (message.type === 'reload') {
    delivery.reload().then(
      () => {
        postConnectors();
        post({ type: 'reloaded', id: message.id });
      },
      (err: unknown) => {
        log.error({ err }, 'reloading connectors failed');
        post({ type: 'reloaded', id: message.id, error: err instanceof Error ? err.message : String(err) });
      },
    );
  }
  else if (message.type === 'cancel') {
    delivery.cancel(message.accountId, message.messageId).then(
      (result) => {
        postStatus(); // the change reaches the main thread's bus before the answer does
        post({ type: 'cancelled', id: message.id, result });
      },
      (err: unknown) => {
        log.error({ err }, 'cancelling a message failed');
        post({ type: 'cancelled', id: message.id, error: err instanceof Error ? err.message : String(err) });
      },
    );
  }
  else if (message.type === 'cancelMailing') {
    delivery.cancelMailing(message.accountId, message.mailingId).then(
      (stopped) => {
        postStatus();
        post({ type: 'mailingCancelled', id: message.id, stopped });
      },
      (err: unknown) => {
        log.error({ err, mailing: message.mailingId }, 'cancelling a mailing\'s messages failed; it goes on at the next start');
        post({ type: 'mailingCancelled', id: message.id, error: err instanceof Error ? err.message : String(err) });
      },
    );
  }
  else if (message.type === 'callback') {
    delivery.callback(message.connectorId, message.request).then(
      (reply) => post({ type: 'callbackReply', id: message.id, reply }),
      (err: unknown) => {
        log.error({ err, connector: message.connectorId }, 'a connector callback failed');
        post({ type: 'callbackReply', id: message.id, error: err instanceof Error ? err.message : String(err) });
      },
    );
  }
  else if (message.type === 'drain') {
    delivery.drain().then(
      () => post({ type: 'drained' }),
      (err: unknown) => {
        log.error({ err }, 'delivery thread did not drain cleanly');
        post({ type: 'drained' });
      },
    );
  }
  else if (message.type === 'stop') {
    clearInterval(connectorTimer);
    void delivery
      .stop()
      .then(() => database.close())
      .then(
        () => post({ type: 'stopped' }),
        (err: unknown) => {
          log.error({ err }, 'delivery thread did not stop cleanly');
          post({ type: 'stopped' });
        },
      );
  }
});
// The main thread answers GET /v1/connectors from the latest of these.
const postConnectors = () => post({ type: 'connectors', states: delivery.connectors(), longestResponseMs: delivery.longestResponseMs });
postConnectors();
const connectorTimer = setInterval(postConnectors, 1000);
connectorTimer.unref();
post({ type: 'ready' });
