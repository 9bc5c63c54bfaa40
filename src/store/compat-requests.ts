import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { ipAllowed } from '../domain/ip-ranges.ts';
import { newId } from '../domain/ids.ts';
import type { CompatIpAllowlistTable, CompatRequestsTable, DB } from './schema.ts';

export type CompatRequest = CompatRequestsTable;

/** A request key as seed 001 shows them: 32 hex digits. */
export function newRequestKey(): string {
  return randomBytes(16).toString('hex');
}

/**
 * Requests of the seed 001 API (sends and balance requests), found again by
 * their `key`; and the addresses an administrator opened the compatibility
 * APIs to without a key (G3).
 */
export class CompatRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async record(accountId: string, kind: 'send' | 'balance', route: string | null, mode: string | null, result: unknown, now = Date.now()): Promise<CompatRequest> {
    const row: CompatRequest = { key: newRequestKey(), account_id: accountId, kind, route, mode, result: JSON.stringify(result), created_at: now };
    await this.#db.insertInto('compat_requests').values(row).execute();
    return row;
  }

  async get(accountId: string, key: string): Promise<CompatRequest | undefined> {
    return this.#db.selectFrom('compat_requests').selectAll().where('account_id', '=', accountId).where('key', '=', key).executeTakeFirst();
  }

  async allowlist(): Promise<CompatIpAllowlistTable[]> {
    return this.#db.selectFrom('compat_ip_allowlist').selectAll().orderBy('id').execute();
  }

  async allow(accountId: string, range: string, now = Date.now()): Promise<CompatIpAllowlistTable> {
    const row = { id: newId('cip', now), account_id: accountId, range, created_at: now };
    await this.#db.insertInto('compat_ip_allowlist').values(row).execute();
    return row;
  }

  async disallow(id: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('compat_ip_allowlist').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** The account an address was opened for, if any range holds it. */
  async accountForAddress(address: string): Promise<string | undefined> {
    for (const entry of await this.allowlist()) if (ipAllowed(address, [entry.range])) return entry.account_id;
    return undefined;
  }
}
