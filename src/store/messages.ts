import type { Kysely } from 'kysely';
import { idBoundsAt } from '../domain/ids.ts';
import { insertChunks } from './shapes.ts';
import type { BatchesTable, DB, MessageEventsTable, MessagePartsTable, MessagesTable } from './schema.ts';

export type MessageRow = MessagesTable;
export type PartRow = MessagePartsTable;
export type EventRow = MessageEventsTable;
export type BatchRow = BatchesTable;


export interface MessageFilter {
  recipient?: string | undefined;
  group?: string | undefined;
  project?: string | undefined;
  status?: string | undefined;
  batchId?: string | undefined;
  operator?: string | undefined;
  /** epoch ms, inclusive */
  since?: number | undefined;
  /** epoch ms, inclusive */
  until?: number | undefined;
  /** return messages older than this id (the previous page's last id) */
  beforeId?: string | undefined;
  limit: number;
}

/** Tenant-scoped reads and writes of messages. Every method takes the account id. */
export class MessagesRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /** Inserts a bulk request's batch in the caller's transaction. */
  static async insertBatch(tx: Kysely<DB>, batch: BatchRow): Promise<void> {
    await tx.insertInto('batches').values(batch).execute();
  }

  /** Inserts accepted messages in the caller's transaction. */
  static async insertAccepted(tx: Kysely<DB>, messages: MessageRow[]): Promise<void> {
    // At most 256 rows × 41 columns, well under SQLite's 32,766 bound variables.
    await insertChunks(tx, 'messages', messages);
  }

  async get(accountId: string, id: string): Promise<MessageRow | undefined> {
    return this.#db.selectFrom('messages').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  }

  async parts(accountId: string, messageId: string): Promise<PartRow[]> {
    return this.#db
      .selectFrom('message_parts')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('message_id', '=', messageId)
      .orderBy('part_index')
      .execute();
  }

  async events(accountId: string, messageId: string): Promise<EventRow[]> {
    return this.#db
      .selectFrom('message_events')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('message_id', '=', messageId)
      .orderBy('id')
      .execute();
  }

  /** One message's events after an event id, oldest first (its status history, a page at a time). */
  async eventsAfter(accountId: string, messageId: string, afterId: string | undefined, limit: number): Promise<EventRow[]> {
    let q = this.#db.selectFrom('message_events').selectAll().where('account_id', '=', accountId).where('message_id', '=', messageId);
    if (afterId !== undefined) q = q.where('id', '>', afterId);
    return q.orderBy('id').limit(limit).execute();
  }

  /** The account's events after an event id, oldest first (a stream's replay), only of these statuses when given. */
  async accountEventsAfter(accountId: string, afterId: string, limit: number, statuses?: readonly string[]): Promise<EventRow[]> {
    let q = this.#db.selectFrom('message_events').selectAll().where('account_id', '=', accountId).where('id', '>', afterId);
    if (statuses !== undefined) q = q.where('status', 'in', statuses);
    return q.orderBy('id').limit(limit).execute();
  }

  /** Newest first; one more row than asked tells the caller whether there is a next page. */
  async list(accountId: string, f: MessageFilter): Promise<MessageRow[]> {
    let q = this.#db.selectFrom('messages').selectAll().where('account_id', '=', accountId);
    if (f.recipient !== undefined) q = q.where('recipient', '=', f.recipient);
    if (f.group !== undefined) q = q.where('group_tag', '=', f.group);
    if (f.project !== undefined) q = q.where('project', '=', f.project);
    if (f.status !== undefined) q = q.where('status', '=', f.status);
    if (f.batchId !== undefined) q = q.where('batch_id', '=', f.batchId);
    if (f.operator !== undefined) q = q.where('operator', '=', f.operator);
    // Ids sort by creation time, so a period is an id range on the index already in use.
    if (f.since !== undefined) q = q.where('id', '>=', idBoundsAt('msg', f.since).lowest);
    if (f.until !== undefined) q = q.where('id', '<=', idBoundsAt('msg', f.until).highest);
    if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
    return q.orderBy('id', 'desc').limit(f.limit).execute();
  }

  async getBatch(accountId: string, batchId: string): Promise<BatchRow | undefined> {
    return this.#db.selectFrom('batches').selectAll().where('account_id', '=', accountId).where('id', '=', batchId).executeTakeFirst();
  }

  async countBatchByStatus(accountId: string, batchId: string): Promise<Record<string, number>> {
    const rows = await this.#db
      .selectFrom('messages')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .where('account_id', '=', accountId)
      .where('batch_id', '=', batchId)
      .groupBy('status')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }
}
