import type { Kysely, Selectable } from 'kysely';
import { newId } from '../domain/ids.ts';
import { hashPassword } from './accounts.ts';
import type { DB, SmppCredentialsTable } from './schema.ts';

export type SmppCredentialRow = Selectable<SmppCredentialsTable>;

export interface NewSmppCredential {
  systemId: string;
  password: string;
  allowedIps: string[];
  maxBinds: number;
  maxSubmitsPerSecond: number;
  receiptHoldSeconds: number;
}

export class SystemIdTakenError extends Error {
  constructor(systemId: string) {
    super(`system_id ${systemId} is taken`);
    this.name = 'SystemIdTakenError';
  }
}

/** Customers' SMPP logins. Reads are scoped by account, except the lookup a bind makes by system_id. */
export class SmppCredentialsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async create(accountId: string, input: NewSmppCredential, now = Date.now()): Promise<SmppCredentialRow> {
    const row: SmppCredentialRow = {
      id: newId('smc', now),
      account_id: accountId,
      system_id: input.systemId,
      password_hash: await hashPassword(input.password),
      allowed_ips: JSON.stringify(input.allowedIps),
      max_binds: input.maxBinds,
      max_submits_per_second: input.maxSubmitsPerSecond,
      receipt_hold_seconds: input.receiptHoldSeconds,
      created_at: now,
      revoked_at: null,
    };
    try {
      await this.#db.transaction().execute(async (tx) => {
        await tx.insertInto('smpp_credentials').values(row).execute();
        // Receipts start with the events after this moment.
        await tx.insertInto('smpp_receipt_cursors').values({ credential_id: row.id, last_event_id: newId('evt', now), updated_at: now }).execute();
      });
    } catch (err) {
      // The unique index decides, also between two creates racing. A revoked credential keeps its
      // system_id (receipts and logs name it), so it still counts.
      const again = await this.#db.selectFrom('smpp_credentials').select('id').where('system_id', '=', input.systemId).executeTakeFirst();
      if (again) throw new SystemIdTakenError(input.systemId);
      throw err;
    }
    return row;
  }

  async list(accountId: string): Promise<SmppCredentialRow[]> {
    return this.#db.selectFrom('smpp_credentials').selectAll().where('account_id', '=', accountId).where('revoked_at', 'is', null).orderBy('id', 'desc').execute();
  }

  async get(accountId: string, id: string): Promise<SmppCredentialRow | undefined> {
    return this.#db.selectFrom('smpp_credentials').selectAll().where('account_id', '=', accountId).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
  }

  /** Revokes; live binds of the credential are closed by the SMPP server. Returns false when there was none. */
  async revoke(accountId: string, id: string, now = Date.now()): Promise<boolean> {
    const result = await this.#db
      .updateTable('smpp_credentials')
      .set({ revoked_at: now })
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** The live credential a bind names. The only read not scoped by account: it is how the account is found. */
  async findBySystemId(systemId: string): Promise<SmppCredentialRow | undefined> {
    return this.#db.selectFrom('smpp_credentials').selectAll().where('system_id', '=', systemId).where('revoked_at', 'is', null).executeTakeFirst();
  }
}
