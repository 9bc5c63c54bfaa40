import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { secretEquals } from '../../../connectors/shared/http-client.ts';
import { newId } from '../../../domain/ids.ts';
import { ApiError } from '../../../errors.ts';
import type { Channel } from '../../../connectors/channels.ts';
import { acceptContext, prepareMessage, type SendRequest } from '../../../pipeline/accept.ts';
import { prepareCascade, type CascadeStepRequest } from '../../../pipeline/cascade.ts';
import type { CascadeRow } from '../../../store/cascades.ts';
import type { MessageRow } from '../../../store/messages.ts';
import { VerificationsRepository, type VerificationRow } from '../../../store/verifications.ts';
import { requireAuth } from '../auth.ts';
import type { HttpDeps } from '../deps.ts';
import { underIdempotencyKey } from '../idempotency.ts';
import { ErrorSchema, IdParams, Timestamp } from '../schemas.ts';

/** Against SMS pumping: verifications per number and per account in a sliding window (the counts: config `verifications`). */
const LIMIT_WINDOWS = { perNumberMs: 10 * 60_000, perAccountMs: 60 * 60_000 };
const MAX_ATTEMPTS = 5;

const CreateVerificationSchema = Type.Object(
  {
    to: Type.String({ minLength: 1, maxLength: 64, description: 'the number to verify, any common form', examples: ['+79161234567'] }),
    channel: Type.Optional(Type.Enum(['sms', 'telegram', 'whatsapp'], { description: 'one channel only. `telegram` uses Telegram Gateway when the route\'s connector is one. Without `channel` and `channels`: the account\'s `default_cascade`, or SMS alone' })),
    channels: Type.Optional(
      Type.Array(Type.Enum(['sms', 'telegram', 'whatsapp']), { minItems: 1, maxItems: 3, uniqueItems: true, description: 'the channel order: the code goes by a cascade of these, each until delivered (docs/verify.md)', examples: [['telegram', 'whatsapp', 'sms']] }),
    ),
    step_timeout_seconds: Type.Optional(Type.Integer({ minimum: 5, maximum: 600, description: 'with `channels`: how long each step waits for delivery before the next starts, default 60' })),
    code_length: Type.Optional(Type.Integer({ minimum: 4, maximum: 8, description: 'digits of a generated code, default 6' })),
    code: Type.Optional(Type.String({ pattern: '^[0-9]{4,8}$', description: 'your own code instead of a generated one' })),
    ttl_seconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 3600, description: 'how long the code is valid, default 600' })),
    text: Type.Optional(Type.String({ minLength: 1, maxLength: 1000, pattern: '\\{code\\}', description: 'the message, with `{code}` where the code goes; default "Your code is {code}"', examples: ['Код для входа: {code}'] })),
    from: Type.Optional(Type.String({ minLength: 1, maxLength: 16 })),
    template: Type.Optional(Type.Object({ name: Type.String({ minLength: 1, maxLength: 512 }), language: Type.Optional(Type.String({ minLength: 2, maxLength: 16 })) }, { additionalProperties: false, description: 'whatsapp: the authentication template; the code is its parameter' })),
  },
  { additionalProperties: false, examples: [{ to: '+79161234567', code_length: 6, ttl_seconds: 300 }] },
);

const VerificationSchema = Type.Object(
  {
    id: Type.String({ examples: ['ver_01JDQ3X4Y5Z6A7B8C9D0E1F2G3'] }),
    object: Type.Literal('verification'),
    to: Type.String(),
    channel: Type.String({ description: 'the (first) channel the code goes by' }),
    channels: Type.Array(Type.String(), { description: 'the channel order: one channel, or a cascade\'s steps' }),
    status: Type.Enum(['pending', 'verified', 'expired', 'failed'], { description: '`failed`: too many wrong codes' }),
    message_id: Type.String({ description: 'the message carrying the code (with several channels, the cascade\'s message): follow its delivery with GET /v1/messages/{id}' }),
    attempts: Type.Integer(),
    max_attempts: Type.Integer(),
    expires_at: Timestamp,
    created_at: Timestamp,
    verified_at: Type.Union([Timestamp, Type.Null()]),
  },
  { $id: 'Verification' },
);

const CheckSchema = Type.Object({ code: Type.String({ minLength: 1, maxLength: 16, examples: ['052817'] }) }, { additionalProperties: false });
const CheckResultSchema = Type.Object({
  id: Type.String(),
  result: Type.Enum(['valid', 'invalid', 'expired', 'too_many_attempts'], { description: 'a code is valid once; checking again answers `expired`' }),
  status: Type.Enum(['pending', 'verified', 'expired', 'failed']),
  attempts_left: Type.Integer(),
});

/** A step of a verification's channel order (the account's `default_cascade` has this shape). */
interface DefaultStep {
  channel: string;
  connector?: string | undefined;
  until?: 'delivered' | 'read' | undefined;
  timeout_seconds?: number | undefined;
  template?: { name: string; language?: string | undefined } | undefined;
}

const hashCode = (salt: string, code: string) => createHash('sha256').update(`${salt}:${code}`).digest('hex');

function present(v: VerificationRow) {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    id: v.id,
    object: 'verification' as const,
    to: v.recipient,
    channel: v.channel.split(',')[0]!,
    channels: v.channel.split(','),
    status: v.status as 'pending' | 'verified' | 'expired' | 'failed',
    message_id: v.message_id,
    attempts: v.attempts,
    max_attempts: v.max_attempts,
    expires_at: iso(v.expires_at),
    created_at: iso(v.created_at),
    verified_at: v.verified_at === null ? null : iso(v.verified_at),
  };
}

/**
 * One-time codes (docs/verify.md): the gateway makes the code (or takes
 * one), sends it as a message of the chosen channel, keeps only its salted
 * hash, and answers checks. With several channels (`channels`, or the
 * account's `default_cascade`) the code goes by a cascade (pipeline/cascade.ts).
 */
export function verificationsRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  const repo = new VerificationsRepository(deps.database.db);
  const security = [{ bearerAuth: [] }];
  return async (app) => {
    app.post(
      '/v1/verifications',
      {
        schema: {
          summary: 'Send a verification code',
          description: 'Generates (or takes) a code, sends it, stores only its hash. Limits per number and account against SMS pumping. Supports `Idempotency-Key`.',
          tags: ['verifications'],
          security,
          headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String()) }),
          body: CreateVerificationSchema,
          response: { 201: VerificationSchema, 400: ErrorSchema, 401: ErrorSchema, 422: ErrorSchema, 429: ErrorSchema },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        // A repeat is answered before the limits are looked at: the first request counts towards them.
        return underIdempotencyKey(deps.idempotency, request, reply, auth.account.id, async (idem) => {
          const body = request.body;
          const now = Date.now();
          if (body.channel !== undefined && body.channels !== undefined) throw new ApiError('validation_failed', 'give channel or channels, not both', [{ field: 'channels', issue: 'not together with channel' }]);
          const code = body.code ?? Array.from({ length: body.code_length ?? 6 }, () => randomInt(10)).join('');
          const ttlSeconds = body.ttl_seconds ?? 600;
          const text = (body.text ?? 'Your code is {code}').replaceAll('{code}', code);
          const withCode = (t: { name: string; language?: string | undefined } | undefined) => (t ? { template: { name: t.name, language: t.language, params: [code] } } : {});
          // The channel order: one channel, the given order, the account's default cascade, or SMS alone.
          const order: DefaultStep[] =
            body.channel !== undefined
              ? [{ channel: body.channel }]
              : body.channels !== undefined
                ? body.channels.map((channel, i, all) => ({ channel, ...(i < all.length - 1 ? { timeout_seconds: body.step_timeout_seconds ?? 60 } : {}) }))
                : auth.account.default_cascade
                  ? (JSON.parse(auth.account.default_cascade) as DefaultStep[])
                  : [{ channel: 'sms' }];
          const field = (i: number) => (body.channels !== undefined ? `channels.${i}` : body.channel !== undefined || !auth.account.default_cascade ? 'template' : `default_cascade.${i}.template`);
          order.forEach((step, i) => {
            if ((step.channel === 'whatsapp' || step.channel === 'viber') && !(step.template ?? body.template)) {
              throw new ApiError('verification_needs_template', `a ${step.channel} verification needs template`, [{ field: field(i), issue: `required for ${step.channel}` }]);
            }
          });
          const base: SendRequest = { to: body.to, text, ttl_seconds: ttlSeconds, traffic_type: 'service', ...(body.from === undefined ? {} : { from: body.from }) };
          const context = await acceptContext(auth.account, deps);
          let rows: MessageRow[];
          let head: MessageRow;
          let cascade: CascadeRow | undefined;
          if (order.length === 1 && order[0]!.connector === undefined) {
            const only = order[0]!;
            const templated = only.channel === 'whatsapp' || only.channel === 'viber';
            const prepared = prepareMessage(auth.account, { ...base, channel: only.channel as Channel, ...(templated ? { text: '', ...withCode(only.template ?? body.template) } : {}) }, now, null, context);
            if (!prepared.ok) throw prepared.error;
            rows = [prepared.row];
            head = prepared.row;
          } else {
            const steps: CascadeStepRequest[] = order.map((step) => {
              const templated = step.channel === 'whatsapp' || step.channel === 'viber';
              return {
                channel: step.channel as Channel,
                until: step.until ?? 'delivered',
                ...(step.timeout_seconds === undefined ? {} : { timeout_seconds: step.timeout_seconds }),
                ...(step.connector === undefined ? {} : { connector: step.connector }),
                ...(templated ? { text: '', ...withCode(step.template ?? body.template) } : {}),
              };
            });
            const known = new Set(deps.delivery.connectors().map((c) => c.id));
            const prepared = prepareCascade(auth.account, { ...base, cascade: steps }, now, null, context, '', (id) => known.has(id));
            if (!prepared.ok) throw prepared.error;
            rows = [prepared.parent, prepared.first];
            head = prepared.parent;
            cascade = prepared.cascade;
          }
          const recipient = head.recipient;
          const { maxPerNumber, maxPerAccount } = deps.config.verifications;
          if ((await repo.countSince(auth.account.id, now - LIMIT_WINDOWS.perNumberMs, recipient)) >= maxPerNumber) {
            throw new ApiError('verification_limit_exceeded', `${recipient} got ${maxPerNumber} verifications in the last ${LIMIT_WINDOWS.perNumberMs / 60_000} minutes; retry later`, [{ field: 'to', issue: 'too many verifications for this number' }], { 'retry-after': String(LIMIT_WINDOWS.perNumberMs / 1000) });
          }
          if ((await repo.countSince(auth.account.id, now - LIMIT_WINDOWS.perAccountMs)) >= maxPerAccount) {
            throw new ApiError('verification_limit_exceeded', `the account started ${maxPerAccount} verifications in the last hour; retry later`, [], { 'retry-after': '60' });
          }
          const salt = randomBytes(16).toString('base64url');
          const row: VerificationRow = {
            id: newId('ver', now),
            account_id: auth.account.id,
            recipient,
            channel: order.map((s) => s.channel).join(','),
            message_id: head.id,
            code_salt: salt,
            code_hash: hashCode(salt, code),
            status: 'pending',
            attempts: 0,
            max_attempts: MAX_ATTEMPTS,
            expires_at: now + ttlSeconds * 1000,
            created_at: now,
            verified_at: null,
            // The sweeper revokes what can be revoked once it ends: at the latest when it expires.
            sweep_at: now + ttlSeconds * 1000,
          };
          const answer = present(row);
          // With its message, in the accept's transaction: a message without its verification could never be checked, and a
          // verification whose message was refused (the balance, say) would count against the limits and could never be used.
          await deps.delivery.accept({ messages: rows, ...(cascade ? { cascades: [cascade] } : {}), verifications: [row], idempotency: idem && { ...idem, status: 201, body: JSON.stringify(answer) } });
          return reply.code(201).send(answer);
        });
      },
    );

    app.get(
      '/v1/verifications/:id',
      { schema: { summary: 'Get a verification', tags: ['verifications'], security, params: IdParams, response: { 200: VerificationSchema, 401: ErrorSchema, 404: ErrorSchema } } },
      async (request) => {
        const auth = requireAuth(request);
        const v = await repo.get(auth.account.id, request.params.id);
        if (!v) throw new ApiError('not_found', `no verification ${request.params.id}`);
        return present(v);
      },
    );

    app.post(
      '/v1/verifications/:id/check',
      {
        schema: {
          summary: 'Check a code',
          description: 'Answers `valid` (once), `invalid`, `expired` or `too_many_attempts` (after 5 wrong codes). Example: `{"code": "052817"}` → `{"result": "valid", …}`.',
          tags: ['verifications'],
          security,
          params: IdParams,
          body: CheckSchema,
          response: { 200: CheckResultSchema, 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const accountId = auth.account.id;
        const id = request.params.id;
        const now = Date.now();
        const before = await repo.get(accountId, id);
        if (!before) throw new ApiError('not_found', `no verification ${id}`);
        const answer = async (result: 'valid' | 'invalid' | 'expired' | 'too_many_attempts') => {
          const v = (await repo.get(accountId, id))!;
          return { id, result, status: v.status as 'pending' | 'verified' | 'expired' | 'failed', attempts_left: Math.max(0, v.max_attempts - v.attempts) };
        };
        if (before.status === 'failed') return answer('too_many_attempts');
        if (before.status !== 'pending') return answer('expired');
        if (before.expires_at <= now) {
          await repo.settle(accountId, id, 'expired', now);
          return answer('expired');
        }
        // The attempt is counted before the comparison, so parallel guesses cannot exceed the limit.
        if (!(await repo.countAttempt(accountId, id, now))) {
          const v = (await repo.get(accountId, id))!;
          if (v.status === 'pending' && v.attempts >= v.max_attempts) await repo.settle(accountId, id, 'failed', now);
          return answer(v.status === 'pending' && v.attempts >= v.max_attempts ? 'too_many_attempts' : 'expired');
        }
        if (secretEquals(hashCode(before.code_salt, request.body.code), before.code_hash)) {
          return answer((await repo.settle(accountId, id, 'verified', now)) ? 'valid' : 'expired');
        }
        const v = (await repo.get(accountId, id))!;
        if (v.attempts >= v.max_attempts) {
          await repo.settle(accountId, id, 'failed', now);
          return answer('too_many_attempts');
        }
        return answer('invalid');
      },
    );
  };
}
