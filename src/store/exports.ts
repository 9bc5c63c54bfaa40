import type { Kysely, Selectable } from 'kysely';
import { newId } from '../domain/ids.ts';
import type { DB, ExportsTable } from './schema.ts';

export type ExportRow = Selectable<ExportsTable>;
export type ExportStatus = 'queued' | 'running' | 'ready' | 'failed';

/** Background report exports. Tenant-scoped: every read takes the account id. */
export class ExportsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async create(input: { accountId: string; format: 'csv' | 'xlsx'; filters: Record<string, string>; createdBy: string | null }): Promise<ExportRow> {
    const now = Date.now();
    const row: ExportRow = {
      id: newId('exp', now),
      account_id: input.accountId,
      format: input.format,
      filters: JSON.stringify(input.filters),
      status: 'queued',
      rows: 0,
      bytes: null,
      error: null,
      created_by: input.createdBy,
      created_at: now,
      completed_at: null,
    };
    await this.#db.insertInto('exports').values(row).execute();
    return row;
  }

  async get(accountId: string, id: string): Promise<ExportRow | undefined> {
    return this.#db.selectFrom('exports').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  }

  async list(accountId: string, limit: number, beforeId?: string): Promise<ExportRow[]> {
    let q = this.#db.selectFrom('exports').selectAll().where('account_id', '=', accountId);
    if (beforeId !== undefined) q = q.where('id', '<', beforeId);
    return q.orderBy('id', 'desc').limit(limit).execute();
  }

  async running(accountId: string, id: string): Promise<void> {
    await this.#db.updateTable('exports').set({ status: 'running' }).where('account_id', '=', accountId).where('id', '=', id).execute();
  }

  async progress(accountId: string, id: string, rows: number): Promise<void> {
    await this.#db.updateTable('exports').set({ rows }).where('account_id', '=', accountId).where('id', '=', id).execute();
  }

  async finish(accountId: string, id: string, outcome: { rows: number; bytes: number } | { error: string }): Promise<void> {
    const set = 'error' in outcome ? { status: 'failed', error: outcome.error } : { status: 'ready', rows: outcome.rows, bytes: outcome.bytes };
    await this.#db.updateTable('exports').set({ ...set, completed_at: Date.now() }).where('account_id', '=', accountId).where('id', '=', id).execute();
  }

  /** Jobs a stopped process left unfinished (they are not resumed): failed, so nobody waits for them. */
  async failUnfinished(): Promise<number> {
    const result = await this.#db
      .updateTable('exports')
      .set({ status: 'failed', error: 'the gateway restarted while the export ran; create it again', completed_at: Date.now() })
      .where('status', 'in', ['queued', 'running'])
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }
}
