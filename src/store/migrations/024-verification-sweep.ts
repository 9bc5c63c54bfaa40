import { sql, type Kysely } from 'kysely';

/**
 * When a verification ends (checked valid, too many wrong codes, or its
 * lifetime over), the codes it sent that the provider can withdraw
 * (Telegram Gateway's revokeVerificationMessage) are withdrawn, and an
 * expired one is marked so. `sweep_at` is when the delivery side's sweeper
 * should look at it: its `expires_at` at first, now once a check ends it,
 * null once it has been handled. The partial index holds only those waiting,
 * so the sweep reads a range of it and never scans the history.
 */
export const SWEEP_CONDITION = sql<boolean>`sweep_at is not null`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('verifications').addColumn('sweep_at', 'bigint').execute();
  // Verifications still open when this runs are handled too.
  await sql`update verifications set sweep_at = expires_at where status = 'pending'`.execute(db);
  await db.schema.createIndex('verifications_sweep').on('verifications').columns(['sweep_at']).where(SWEEP_CONDITION).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('verifications_sweep').execute();
  await db.schema.alterTable('verifications').dropColumn('sweep_at').execute();
}
