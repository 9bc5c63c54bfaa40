import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Kysely } from 'kysely';
import { newId } from '../domain/ids.ts';
import type { AccountsTable, DB } from './schema.ts';

export type Account = AccountsTable;

export interface ApiKeyRecord {
  id: string;
  accountId: string;
  name: string;
  prefix: string;
  createdAt: number;
  role: 'admin' | 'account';
  /** the project the key is bound to, or null (any project) */
  projectId: string | null;
}

export interface NewAccount {
  name: string;
  defaultRegion: string;
  defaultTtlSeconds: number;
  maxParts: number;
}

const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A new API key: `dpk_` and 32 base62 characters (about 190 random bits). */
export function generateApiKey(): string {
  const bytes = randomBytes(64);
  let body = '';
  for (const byte of bytes) {
    // 248 = 4 × 62: rejecting the rest keeps every character equally likely.
    if (byte < 248) body += KEY_ALPHABET[byte % 62];
    if (body.length === 32) break;
  }
  return body.length === 32 ? `dpk_${body}` : generateApiKey();
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));
}

const SCRYPT = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

/** scrypt (memory-hard), self-describing so parameters can be raised later; sign-in (the cabinet) verifies it. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

/** Checks a password against a hash made by hashPassword, in constant time. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem });
  return timingSafeEqual(actual, expected);
}

/** Accounts, users and API keys. */
export class AccountsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async countAccounts(): Promise<number> {
    const row = await this.#db.selectFrom('accounts').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async createAccount(input: NewAccount, now = Date.now()): Promise<Account> {
    const account: Account = {
      id: newId('acc', now),
      name: input.name,
      default_region: input.defaultRegion,
      default_ttl_seconds: input.defaultTtlSeconds,
      max_parts: input.maxParts,
      created_at: now,
      time_zone: 'Europe/Moscow',
      quiet_hours_start: null,
      quiet_hours_end: null,
      require_registered_senders: 0,
      fallback_sender: null,
    };
    await this.#db.insertInto('accounts').values(account).execute();
    return account;
  }

  async getAccount(accountId: string): Promise<Account | undefined> {
    return this.#db.selectFrom('accounts').selectAll().where('id', '=', accountId).executeTakeFirst();
  }

  /** Changes an account's settings; returns the account as it is now, or undefined when there is none. */
  async updateSettings(
    accountId: string,
    patch: Partial<Pick<Account, 'name' | 'default_region' | 'default_ttl_seconds' | 'max_parts' | 'time_zone' | 'quiet_hours_start' | 'quiet_hours_end' | 'require_registered_senders' | 'fallback_sender' | 'default_cascade' | 'unmatched_templates'>>,
  ): Promise<Account | undefined> {
    if (Object.keys(patch).length > 0) await this.#db.updateTable('accounts').set(patch).where('id', '=', accountId).execute();
    return this.getAccount(accountId);
  }

  /** Stores a key by its hash; the caller shows the plain key once and forgets it. */
  async createApiKey(accountId: string, name: string, plainKey: string, options: { role?: 'admin' | 'account'; projectId?: string | null; now?: number } = {}): Promise<ApiKeyRecord> {
    const now = options.now ?? Date.now();
    const role = options.role ?? 'account';
    const projectId = options.projectId ?? null;
    const record = { id: newId('key', now), account_id: accountId, name, prefix: plainKey.slice(0, 12), key_hash: hashApiKey(plainKey), created_at: now, revoked_at: null, role, project_id: projectId };
    await this.#db.insertInto('api_keys').values(record).execute();
    return { id: record.id, accountId, name, prefix: record.prefix, createdAt: now, role, projectId };
  }

  /** The live key with this hash, or undefined. The only read not scoped by account: it is how the account is found. */
  async findApiKeyByHash(keyHash: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.#db
      .selectFrom('api_keys')
      .select(['id', 'account_id', 'name', 'prefix', 'created_at', 'role', 'project_id'])
      .where('key_hash', '=', keyHash)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return row && { id: row.id, accountId: row.account_id, name: row.name, prefix: row.prefix, createdAt: row.created_at, role: row.role, projectId: row.project_id };
  }

  /** The account's keys, live and revoked, newest first; `before` is the last id of the previous page; `projectId` keeps those bound to that project. */
  async listApiKeys(accountId: string, limit: number, before?: string, projectId?: string): Promise<(ApiKeyRecord & { revokedAt: number | null })[]> {
    let q = this.#db
      .selectFrom('api_keys')
      .select(['id', 'account_id', 'name', 'prefix', 'created_at', 'role', 'revoked_at', 'project_id'])
      .where('account_id', '=', accountId)
      .orderBy('id', 'desc')
      .limit(limit);
    if (before) q = q.where('id', '<', before);
    if (projectId !== undefined) q = q.where('project_id', '=', projectId);
    const rows = await q.execute();
    return rows.map((r) => ({ id: r.id, accountId: r.account_id, name: r.name, prefix: r.prefix, createdAt: r.created_at, role: r.role, projectId: r.project_id, revokedAt: r.revoked_at }));
  }

  /** Revokes a live key of the account; false when it has none such (unknown, another account's, or revoked already). */
  async revokeApiKey(accountId: string, keyId: string, now = Date.now()): Promise<boolean> {
    const result = await this.#db.updateTable('api_keys').set({ revoked_at: now }).where('id', '=', keyId).where('account_id', '=', accountId).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Which of these keys of the account are live (not revoked): what open event streams check now and then (routes/events.ts). */
  async liveApiKeyIds(accountId: string, keyIds: readonly string[]): Promise<Set<string>> {
    if (keyIds.length === 0) return new Set();
    const rows = await this.#db.selectFrom('api_keys').select('id').where('account_id', '=', accountId).where('id', 'in', [...keyIds]).where('revoked_at', 'is', null).execute();
    return new Set(rows.map((r) => r.id));
  }

  /** The oldest account: where a platform user's session acts until it chooses another. */
  async firstAccount(): Promise<Account | undefined> {
    return this.#db.selectFrom('accounts').selectAll().orderBy('id', 'asc').limit(1).executeTakeFirst();
  }

  async createUser(input: { email: string; password: string; role: string; accountId: string | null }, now = Date.now()): Promise<{ id: string }> {
    const id = newId('usr', now);
    await this.#db
      .insertInto('users')
      .values({ id, email: input.email.toLowerCase(), password_hash: await hashPassword(input.password), role: input.role, account_id: input.accountId, created_at: now })
      .execute();
    return { id };
  }
}
