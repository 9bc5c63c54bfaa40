import type { Kysely } from 'kysely';
import { SENT_CONDITION } from './009-sent-expiry.ts';

/**
 * Status polling (the HTTP connector's `poll`) asks the provider about a
 * connector's parts that are still `sent`, oldest first. This partial index
 * holds only those parts, by connector and send time, so a poll never scans
 * the connector's history. The condition is the literal the query repeats
 * (SQLite uses a partial index only then).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('message_parts_open').on('message_parts').columns(['connector_id', 'sent_at', 'message_id', 'part_index']).where(SENT_CONDITION).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('message_parts_open').execute();
}
