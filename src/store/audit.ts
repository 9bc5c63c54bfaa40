import type { Kysely } from 'kysely';
import { newId } from '../domain/ids.ts';
import type { AuditLogTable, DB } from './schema.ts';

export type AuditRow = AuditLogTable;

export interface AuditEntry {
  accountId: string | null;
  actorType: 'user' | 'api_key' | 'anonymous';
  actorId: string | null;
  actorLabel: string;
  action: string;
  targetId: string | null;
  outcome: 'succeeded' | 'failed';
  /** never secrets: passwords and keys stay out */
  details?: Record<string, unknown>;
  ip: string | null;
}

/** The audit log: append-only, read newest first. */
export class AuditRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async record(entry: AuditEntry, now = Date.now()): Promise<void> {
    await this.#db
      .insertInto('audit_log')
      .values({
        id: newId('aud', now),
        account_id: entry.accountId,
        actor_type: entry.actorType,
        actor_id: entry.actorId,
        actor_label: entry.actorLabel,
        action: entry.action,
        target_id: entry.targetId,
        outcome: entry.outcome,
        details: entry.details === undefined ? null : JSON.stringify(entry.details),
        ip: entry.ip,
        created_at: now,
      })
      .execute();
  }

  /** One account's entries, or (accountId `undefined`, platform staff only) every entry. */
  async list(accountId: string | undefined, limit: number, before?: string): Promise<AuditRow[]> {
    let q = this.#db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(limit);
    if (accountId !== undefined) q = q.where('account_id', '=', accountId);
    if (before) q = q.where('id', '<', before);
    return q.execute();
  }
}
