import type { Kysely } from 'kysely';

/**
 * A long SMS of which the provider took some parts and deferred others (a
 * throttled or timed-out submit_sm) is retried for the deferred parts only.
 * They must carry the concatenation reference (UDH or SAR) that the parts
 * already taken carried, or the handset cannot join them: the reference is
 * kept on the part rows of the parts taken (SendResult.concatRef). Null for
 * every other part.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('message_parts').addColumn('concat_ref', 'integer').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('message_parts').dropColumn('concat_ref').execute();
}
