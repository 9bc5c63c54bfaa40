import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger } from 'fastify';
import { Type } from 'typebox';
import { MESSAGE_STATUSES, type MessageStatus } from '../../../domain/statuses.ts';
import { ApiError } from '../../../errors.ts';
import { writeStream, type DropReason, type LiveHub, type LiveSubscription } from '../../../events/live.ts';
import { MailingsRepository } from '../../../store/mailings.ts';
import type { AccountsRepository } from '../../../store/accounts.ts';
import type { SessionsRepository } from '../../../store/sessions.ts';
import { requireAuth } from '../auth.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { HttpDeps } from '../deps.ts';
import { MailingProgressFeed } from '../mailing-progress.ts';
import { acceptedEvent, eventFromRow, presentEvent } from '../present.ts';
import { ErrorSchema, IdParams, ReasonSchema, Timestamp } from '../schemas.ts';

/** Statuses a stored event can have: `accepted` is not stored, and the stream does not carry it. */
const STREAMED_STATUSES = MESSAGE_STATUSES.filter((s) => s !== 'accepted');
const EVENT_ID = /^evt_[0-9A-HJKMNP-TV-Z]{26}$/;
/** Types a stream carries: `message.<status>`, and (only when asked for by name) `mailing.progress`. */
const STREAM_TYPE = `(message\\.(${STREAMED_STATUSES.join('|')})|mailing\\.progress)`;

/** The `types` of a stream: the message statuses it carries (undefined: all), and whether it carries mailing progress. */
function streamTypes(types: string | undefined): { statuses: Set<MessageStatus> | undefined; progress: boolean } {
  if (types === undefined) return { statuses: undefined, progress: false };
  const list = types.split(',');
  return { statuses: new Set(list.filter((t) => t.startsWith('message.')).map((t) => t.slice('message.'.length) as MessageStatus)), progress: list.includes('mailing.progress') };
}

export const EventSchema = Type.Object(
  {
    id: Type.String({ description: 'event id; on the stream also the SSE `id:`, usable as `Last-Event-ID`', examples: ['evt_01JDQ3X4Y5Z6A7B8C9D0E1F2G3'] }),
    type: Type.String({ description: '`message.<status>`', examples: ['message.delivered'] }),
    created_at: Timestamp,
    data: Type.Object({
      object: Type.Literal('status_change'),
      message_id: Type.String({ examples: ['msg_01JDQ3X4Y5Z6A7B8C9D0E1F2G3'] }),
      status: Type.Enum(MESSAGE_STATUSES),
      reason: ReasonSchema,
    }),
  },
  {
    $id: 'Event',
    examples: [
      {
        id: 'evt_01JDQ3X4Y5Z6A7B8C9D0E1F2G3',
        type: 'message.undelivered',
        created_at: '2026-11-22T14:05:53.120Z',
        data: {
          object: 'status_change',
          message_id: 'msg_01JDQ3X4Y5Z6A7B8C9D0E1F2G0',
          status: 'undelivered',
          reason: { code: 'subscriber_unknown', description: 'The number does not exist or is not assigned to a subscriber.', permanent: true, provider_code: 'stat:UNDELIV err:001' },
        },
      },
    ],
  },
);

const EventListSchema = Type.Object({ data: Type.Array(EventSchema, { description: 'oldest first' }), next_cursor: Type.Union([Type.String(), Type.Null()]) });

const HistoryQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false },
);

const StreamQuery = Type.Object(
  {
    types: Type.Optional(
      Type.String({
        pattern: `^${STREAM_TYPE}(,${STREAM_TYPE})*$`,
        description: 'only these event types, comma-separated; `mailing.progress` (not sent unless named here) adds each running mailing\'s statistics, at most once a second per mailing while they change',
        examples: ['message.delivered,message.undelivered', 'mailing.progress'],
      }),
    ),
    last_event_id: Type.Optional(Type.String({ pattern: EVENT_ID.source, description: 'as the `Last-Event-ID` header, for clients that cannot set headers' })),
  },
  { additionalProperties: false },
);

const errors = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 429: ErrorSchema };
const security = [{ bearerAuth: [] }];

/** One event as SSE text. JSON never holds a raw newline, so `data:` is one line. */
function sse(change: Parameters<typeof presentEvent>[0]): string {
  const event = presentEvent(change);
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

const FAREWELL: Record<DropReason, string> = {
  slow_consumer: 'the client did not read fast enough; reconnect with Last-Event-ID to resume',
  shutting_down: 'the gateway is shutting down; reconnect with Last-Event-ID to resume',
  session_ended: 'the session has ended (signed out, or its password changed, or it expired); sign in again',
  key_revoked: 'the API key that opened the stream was revoked; open it again with a live key',
};

/** how often a stream opened with the session cookie checks that its session is live still */
export const SESSION_CHECK_MS = 5000;

/**
 * Ends a cookie-opened stream with `session_ended` once its session is no
 * longer live. Signing out may happen on another API node, whose memory this
 * node does not share, so the stream asks the database (the session's row)
 * every SESSION_CHECK_MS. A check that fails (the database away) keeps the
 * stream and checks again: requests answer 503 meanwhile, and the next check
 * decides. The checks stop when the stream ends, whatever ends it.
 */
function watchSession(sub: LiveSubscription, sessionId: string, sessions: SessionsRepository, log: FastifyBaseLogger): void {
  let timer: NodeJS.Timeout | undefined;
  const check = async () => {
    try {
      if (!(await sessions.isLive(sessionId))) return sub.end('session_ended');
    } catch (err) {
      log.warn({ err }, 'the event stream could not check its session; it tries again');
    }
    if (!sub.ended) timer = setTimeout(check, SESSION_CHECK_MS);
  };
  timer = setTimeout(check, SESSION_CHECK_MS);
  sub.onEnd(() => clearTimeout(timer));
}

/** how often the API keys holding streams open on this node are checked for being revoked (on another node) */
export const KEY_CHECK_MS = 5000;

/**
 * Ends the streams of revoked API keys with `key_revoked`. The node that
 * revokes a key ends its streams at once (routes/api-keys.ts), and in a
 * cluster so do the others when its notice comes (app.ts, cluster/auth-notices.ts);
 * a key revoked without a notice heard (Redis away, the database) is found here: every KEY_CHECK_MS one query per account
 * with key streams open asks the database which of their keys are still live.
 * A check that fails keeps the streams and checks again, as the session check does.
 */
function watchKeys(live: LiveHub, accounts: AccountsRepository, log: FastifyBaseLogger): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const check = async () => {
    for (const [accountId, keyIds] of live.apiKeysOpen()) {
      try {
        const liveKeys = await accounts.liveApiKeyIds(accountId, [...keyIds]);
        for (const keyId of keyIds) if (!liveKeys.has(keyId)) live.endKey(accountId, keyId, 'key_revoked');
      } catch (err) {
        log.warn({ err }, 'the event streams could not check their API keys; they try again');
      }
    }
    if (!stopped) timer = setTimeout(check, KEY_CHECK_MS).unref();
  };
  timer = setTimeout(check, KEY_CHECK_MS).unref();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

export function eventsRoutes(deps: HttpDeps, sessions: SessionsRepository): FastifyPluginAsyncTypebox {
  const live: LiveHub = deps.live;
  return async (app) => {
    // Open streams end before the server closes, or closing would wait for them.
    app.addHook('preClose', async () => live.closeAll('shutting_down'));
    // Mailing progress for the streams that ask for it (it reads nothing while none does).
    const progress = new MailingProgressFeed(live, new MailingsRepository(deps.database.db), deps.log.child({ component: 'mailing-progress' }));
    progress.start();
    app.addHook('onClose', async () => progress.stop());
    const streamLog = deps.log.child({ component: 'event-streams' });
    const stopKeyWatch = watchKeys(live, deps.accounts, streamLog);
    app.addHook('onClose', async () => stopKeyWatch());
    const { redisUrl, redisPrefix, roles, bindLeaseMs } = deps.config;
    if (redisUrl !== undefined && roles.includes('api')) {
      // In a cluster a key's streams count on every API node together (loaded only here: an embedded gateway needs no ioredis).
      const [{ connectRedis }, { StreamLeases }] = await Promise.all([import('../../../cluster/redis.ts'), import('../../../cluster/stream-leases.ts')]);
      const redis = connectRedis(redisUrl, 'depesha-streams');
      redis.on('error', (err) => streamLog.warn({ err }, 'Redis connection error'));
      const leases = new StreamLeases(redis, redisPrefix, streamLog, { ttlMs: bindLeaseMs });
      leases.start();
      live.shareLimit(leases);
      // After preClose has ended the streams (each gave its lease back).
      app.addHook('onClose', async () => {
        await leases.stop();
        await redis.quit().catch(() => redis.disconnect());
      });
    }

    app.get(
      '/v1/messages/:id/events',
      {
        schema: {
          summary: "A message's status history",
          description: 'The status timeline, **oldest first** (unlike other lists), cursor-paginated. The first entry is `message.accepted`, made from the message\'s creation (it is not stored, and the stream does not carry it).',
          tags: ['events'],
          security,
          params: IdParams,
          querystring: HistoryQuery,
          response: { 200: EventListSchema, ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const row = await deps.messages.get(auth.account.id, request.params.id);
        if (!row) throw new ApiError('not_found', `no message ${request.params.id} in this account`);
        const limit = request.query.limit ?? 50;
        const after = request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, 'evt');
        const accepted = acceptedEvent(row);
        const first = after === undefined || after < accepted.eventId;
        const stored = (await deps.messages.eventsAfter(auth.account.id, row.id, after, limit + 1)).map(eventFromRow);
        const all = first ? [accepted, ...stored] : stored;
        const page = all.slice(0, limit);
        return { data: page.map(presentEvent), next_cursor: all.length > limit ? encodeCursor(page[page.length - 1]!.eventId) : null };
      },
    );

    app.get(
      '/v1/events/stream',
      {
        schema: {
          summary: "Live status changes of the account's messages",
          description:
            'Server-Sent Events (`text/event-stream`): every committed status change of the account, as it happens, one event per change (`id:` the event id, `event:` its type, `data:` the event envelope). Resume after a disconnect with the `Last-Event-ID` header (or `last_event_id`): the stored events after it come first, then live ones, with no gap or duplicate between them. Keep-alive comments every 15 s. A client that stops reading is dropped with an `event: dropped`; so is a stream opened with the cabinet\'s session cookie within 5 s of the session ending (signed out on any node), with the reason `session_ended`, and a stream opened with an API key once the key is revoked (at once on the node that revoked it, and in a cluster on the others by the time the revocation answers; within 5 s if Redis is away), with the reason `key_revoked`. ' +
            'With `types` naming `mailing.progress` (it is never sent otherwise), the stream carries, beside the `message.*` types named, `event: mailing.progress` for each running mailing of the account, at most once a second per mailing and only when its figures changed, plus one when a run stops: `data:` is `{"type": "mailing.progress", "created_at": …, "data": <the body of GET /v1/mailings/{id}/stats>}`, with no `id:` (it is not stored and not replayed; `Last-Event-ID` stays the last status change\'s).',
          tags: ['events'],
          security,
          headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ pattern: EVENT_ID.source, description: 'the last event id you received' })) }),
          querystring: StreamQuery,
          response: { 200: { description: 'an endless `text/event-stream`; each `data:` is an Event', content: { 'text/event-stream': { schema: EventSchema } } }, ...errors },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const lastEventId = request.headers['last-event-id'] ?? request.query.last_event_id;
        const { statuses, progress: wantsProgress } = streamTypes(request.query.types);
        const sub = await live.open(auth.account.id, auth.keyId, { statuses, progress: wantsProgress, apiKey: !auth.session });
        if (!sub) throw new ApiError('too_many_streams', `this API key holds ${live.maxPerKey} open streams already${deps.config.redisUrl === undefined ? '' : ' (on all nodes together)'}; close one first`);
        deps.metrics.streamsOpen.set(live.size);
        const log = request.log.child({ stream: true });
        // A key's stream lasts while the key does (watchKeys, and the revoking node at once); a session's, while the session does.
        if (auth.session) watchSession(sub, auth.session.id, sessions, log);
        reply.hijack();
        const res = reply.raw;
        // The headers set so far (request id, rate limits) go out with the stream's own.
        for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) res.setHeader(name, value);
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        res.flushHeaders();
        const only = statuses === undefined ? undefined : [...statuses];
        const reason = await writeStream(sub, res, {
          lastEventId,
          replay: async (afterId, limit) => (only?.length === 0 ? [] : (await deps.messages.accountEventsAfter(auth.account.id, afterId, limit, only)).map(eventFromRow)),
          format: sse,
          farewell: (why) => `event: dropped\ndata: ${JSON.stringify({ reason: why, message: FAREWELL[why] })}\n\n`,
          keepAliveMs: deps.config.stream.keepAliveSeconds * 1000,
        });
        if (reason === 'slow_consumer') log.warn({ account: auth.account.id }, 'event stream dropped: the client did not read');
        deps.metrics.streamsEnded.inc({ reason });
        deps.metrics.streamsOpen.set(live.size);
      },
    );
  };
}
