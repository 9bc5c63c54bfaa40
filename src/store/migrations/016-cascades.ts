import { sql, type Kysely } from 'kysely';

/**
 * Cascades (docs/api.md#cascade): a parent message whose steps are child
 * messages, one channel each, tried in order. `messages.parent_id` links a
 * step's message to its parent and `cascade_step` numbers it (0 on the parent
 * itself, 1… on the steps). One `cascades` row per parent (same id) holds the
 * steps, the step running now and its timer: the timer is data, so a restart
 * at any point finds it again. The due index holds only running cascades with
 * a timer; as with `messages_due`, its condition is a literal that the poll
 * repeats word for word. `accounts.default_cascade` is the account's channel
 * order for verifications that give none.
 */
export const CASCADE_TIMER_CONDITION = sql<boolean>`status = 'running' and timer_at is not null`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('messages').addColumn('parent_id', 'text').execute();
  await db.schema.alterTable('messages').addColumn('cascade_step', 'integer').execute();
  await db.schema.createIndex('messages_parent').on('messages').columns(['parent_id', 'cascade_step']).where('parent_id', 'is not', null).execute();
  await db.schema.alterTable('accounts').addColumn('default_cascade', 'text').execute();
  await db.schema
    .createTable('cascades')
    // the parent message's id
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull())
    // JSON: every step's spec and the prepared message it sends (store/cascades.ts)
    .addColumn('steps', 'text', (c) => c.notNull())
    // 1-based, the step running now (or the last one run)
    .addColumn('step', 'integer', (c) => c.notNull())
    .addColumn('child_id', 'text', (c) => c.notNull())
    // running | done
    .addColumn('status', 'text', (c) => c.notNull())
    // when the running step's timeout passes; null: none (the last step, or done)
    .addColumn('timer_at', 'bigint')
    // the step whose message decided the parent's final status; null while running or when none did
    .addColumn('decided_step', 'integer')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('cascades_timer').on('cascades').columns(['timer_at']).where(CASCADE_TIMER_CONDITION).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('cascades').execute();
  await db.schema.alterTable('accounts').dropColumn('default_cascade').execute();
  await db.schema.dropIndex('messages_parent').execute();
  await db.schema.alterTable('messages').dropColumn('cascade_step').execute();
  await db.schema.alterTable('messages').dropColumn('parent_id').execute();
}
