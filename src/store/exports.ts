import type { Kysely, Selectable } from 'kysely';
import { newId } from '../domain/ids.ts';
import type { DB, ExportsTable } from './schema.ts';

export type ExportRow = Selectable<ExportsTable>;
export type ExportStatus = 'queued' | 'running' | 'ready' | 'failed' | 'expired';

/**
 * Background report exports and their files, kept in the database as chunks
 * (`export_chunks`), so any API node serves a ready file. Tenant-scoped: every
 * read and write of one job takes the account id; the sweeps (lapsed leases,
 * expired files) are the gateway's own and span accounts.
 */
export class ExportsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async create(input: { accountId: string; format: 'csv' | 'xlsx'; filters: Record<string, string>; createdBy: string | null; owner: string; leaseUntil: number }): Promise<ExportRow> {
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
      owner: input.owner,
      lease_until: input.leaseUntil,
      expires_at: null,
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

  /** Starts the job if it is still this owner's and queued; false when another process failed it meanwhile. */
  async running(accountId: string, id: string, owner: string): Promise<boolean> {
    const result = await this.#db
      .updateTable('exports')
      .set({ status: 'running' })
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .where('owner', '=', owner)
      .where('status', '=', 'queued')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async progress(accountId: string, id: string, rows: number): Promise<void> {
    await this.#db.updateTable('exports').set({ rows }).where('account_id', '=', accountId).where('id', '=', id).execute();
  }

  /** Appends one chunk of the file. */
  async appendChunk(id: string, seq: number, data: Uint8Array): Promise<void> {
    await this.#db.insertInto('export_chunks').values({ export_id: id, seq, data }).execute();
  }

  /** One chunk of the file, or undefined past its end. */
  async chunk(id: string, seq: number): Promise<Uint8Array | undefined> {
    const row = await this.#db.selectFrom('export_chunks').select('data').where('export_id', '=', id).where('seq', '=', seq).executeTakeFirst();
    return row?.data;
  }

  async finish(accountId: string, id: string, outcome: { rows: number; bytes: number; retentionMs: number } | { error: string }): Promise<void> {
    const now = Date.now();
    if ('error' in outcome) {
      await this.#db.deleteFrom('export_chunks').where('export_id', '=', id).execute();
      await this.#db.updateTable('exports').set({ status: 'failed', error: outcome.error, completed_at: now, owner: null, lease_until: null }).where('account_id', '=', accountId).where('id', '=', id).execute();
      return;
    }
    const result = await this.#db
      .updateTable('exports')
      .set({ status: 'ready', rows: outcome.rows, bytes: outcome.bytes, expires_at: now + outcome.retentionMs, completed_at: now, owner: null, lease_until: null })
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .where('status', '=', 'running')
      .executeTakeFirst();
    // Failed meanwhile by another process (this one's lease lapsed): the file is nobody's.
    if (Number(result.numUpdatedRows) === 0) await this.#db.deleteFrom('export_chunks').where('export_id', '=', id).execute();
  }

  /** The owner's jobs stay its own while it lives: their lease moves on. */
  async renew(owner: string, until: number): Promise<void> {
    await this.#db.updateTable('exports').set({ lease_until: until }).where('owner', '=', owner).where('status', 'in', ['queued', 'running']).execute();
  }

  /**
   * Jobs whose process stopped (its lease lapsed, or a job written before
   * leases existed): failed, their chunks deleted, so nobody waits for them.
   * A job whose process still renews its lease is left alone, whichever node looks.
   */
  async failLapsed(now = Date.now()): Promise<number> {
    const lapsed = await this.#db
      .selectFrom('exports')
      .select('id')
      .where('status', 'in', ['queued', 'running'])
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .execute();
    for (const { id } of lapsed) {
      const result = await this.#db
        .updateTable('exports')
        .set({ status: 'failed', error: 'the gateway process writing it stopped; create it again', completed_at: now, owner: null, lease_until: null })
        .where('id', '=', id)
        .where('status', 'in', ['queued', 'running'])
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 1) await this.#db.deleteFrom('export_chunks').where('export_id', '=', id).execute();
    }
    return lapsed.length;
  }

  /** Ready files past their expiry: chunks deleted, the job kept as `expired`. */
  async purgeExpired(now = Date.now()): Promise<number> {
    const due = await this.#db.selectFrom('exports').select('id').where('status', '=', 'ready').where('expires_at', '<=', now).limit(100).execute();
    for (const { id } of due) {
      await this.#db.transaction().execute(async (tx) => {
        await tx.updateTable('exports').set({ status: 'expired' }).where('id', '=', id).where('status', '=', 'ready').execute();
        await tx.deleteFrom('export_chunks').where('export_id', '=', id).execute();
      });
    }
    return due.length;
  }
}
