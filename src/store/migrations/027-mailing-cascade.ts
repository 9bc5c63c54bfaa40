import type { Kysely } from 'kysely';

/**
 * A mailing over several channels sends each recipient a cascade in its
 * channel order (pipeline/mailings.ts): how long each step but the last waits
 * (`step_timeout_seconds`, null: 600) and what ends the cascade at a step
 * (`step_until`, `delivered` or `read`, null: `delivered`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('mailings').addColumn('step_timeout_seconds', 'integer').execute();
  await db.schema.alterTable('mailings').addColumn('step_until', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('mailings').dropColumn('step_until').execute();
  await db.schema.alterTable('mailings').dropColumn('step_timeout_seconds').execute();
}
