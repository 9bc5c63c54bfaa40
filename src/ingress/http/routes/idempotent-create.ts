import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { IdempotencyRepository } from '../../../store/idempotency.ts';
import type { DB } from '../../../store/schema.ts';
import type { HttpDeps } from '../deps.ts';
import { claimIdempotency } from '../idempotency.ts';

/**
 * A creating POST that honours `Idempotency-Key`: with a key, the object is
 * created and the answer stored in one transaction, so a repeat replays the
 * first answer and a failure leaves the key free. `work` gets the database
 * (or that transaction) to create with.
 */
export async function idempotentCreate(deps: HttpDeps, request: FastifyRequest, reply: FastifyReply, accountId: string, work: (db: Kysely<DB>) => Promise<unknown>): Promise<FastifyReply> {
  const idem = await claimIdempotency(deps.idempotency, request, reply, accountId);
  if (idem === 'replied') return reply;
  if (!idem) return reply.code(201).send(await work(deps.database.db));
  try {
    const body = await deps.database.db.transaction().execute(async (tx) => {
      const created = await work(tx);
      await IdempotencyRepository.complete(tx, idem, 201, JSON.stringify(created));
      return created;
    });
    return reply.code(201).send(body);
  } catch (err) {
    await deps.idempotency.release(idem).catch(() => {});
    throw err;
  }
}
