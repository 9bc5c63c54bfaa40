import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../../errors.ts';
import type { IdempotencyHold, IdempotencyRepository } from '../../store/idempotency.ts';

export type IdempotencyContext = IdempotencyHold;

/**
 * Reads `Idempotency-Key` and claims it. Returns the claimed context (the
 * caller stores its answer in the same transaction as its work), undefined when
 * no key was sent, or 'replied' when a stored answer was sent back.
 */
export async function claimIdempotency(
  repo: IdempotencyRepository,
  request: FastifyRequest,
  reply: FastifyReply,
  accountId: string,
): Promise<IdempotencyContext | undefined | 'replied'> {
  const raw = request.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  const key = Array.isArray(raw) ? raw[0] ?? '' : raw;
  if (key.length === 0 || key.length > 255) throw new ApiError('idempotency_key_invalid', 'Idempotency-Key must be 1–255 characters', [{ field: 'Idempotency-Key', issue: 'must be 1–255 characters' }]);
  const hash = createHash('sha256').update(`${request.method} ${request.routeOptions.url ?? request.url}\n`).update(JSON.stringify(request.body ?? null)).digest('hex');
  const claim = await repo.claim(accountId, key, hash);
  switch (claim.kind) {
    case 'new':
      return { accountId, key, claimedAt: claim.claimedAt };
    case 'replay':
      await reply.code(claim.status).header('idempotency-replayed', 'true').type('application/json; charset=utf-8').send(claim.body);
      return 'replied';
    case 'mismatch':
      throw new ApiError('idempotency_key_reused', 'this Idempotency-Key was used in the last 24 hours with a different request; use a new key for a new request', [
        { field: 'Idempotency-Key', issue: 'already used with a different body' },
      ]);
    case 'in_progress':
      throw new ApiError('idempotency_key_in_use', 'a request with this Idempotency-Key is still being processed; retry in a moment', [], { 'retry-after': '1' });
  }
}

/**
 * Runs a request's work under its `Idempotency-Key`. The key is looked at
 * before anything else is checked, so a repeat of a request that succeeded
 * gets its first answer even when the same request would now be refused (the
 * balance spent by the first one, a limit reached since); the key is given
 * back when `work` throws, so a refused request can be sent again with it.
 * `work` stores its answer under the key in its own transaction.
 */
export async function underIdempotencyKey(
  repo: IdempotencyRepository,
  request: FastifyRequest,
  reply: FastifyReply,
  accountId: string,
  work: (idem: IdempotencyContext | undefined) => Promise<FastifyReply>,
): Promise<FastifyReply> {
  const idem = await claimIdempotency(repo, request, reply, accountId);
  if (idem === 'replied') return reply;
  try {
    return await work(idem);
  } catch (err) {
    if (idem) await repo.release(idem).catch(() => {});
    throw err;
  }
}
