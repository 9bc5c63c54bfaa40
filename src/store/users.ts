import type { Kysely } from 'kysely';
import { newId } from '../domain/ids.ts';
import { hashPassword } from './accounts.ts';
import type { DB, UsersTable } from './schema.ts';

export const PLATFORM_ROLES = ['administrator', 'staff'] as const;
export const ACCOUNT_ROLES = ['owner', 'manager', 'viewer'] as const;
export type PlatformRole = (typeof PLATFORM_ROLES)[number];
export type AccountRole = (typeof ACCOUNT_ROLES)[number];
export type UserRole = PlatformRole | AccountRole;

export type UserRow = Omit<UsersTable, 'failed_sign_ins'> & { failed_sign_ins: number };

export function isPlatformRole(role: string): role is PlatformRole {
  return (PLATFORM_ROLES as readonly string[]).includes(role);
}

/** Failed sign-ins in a row that lock a user, and for how long. */
export const LOCKOUT = { attempts: 5, durationMs: 15 * 60_000 };

/**
 * Cabinet users. Account users are read by `accountId`; platform users
 * (administrator, staff) belong to no account and are read with `accountId: null`.
 */
export class UsersRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async create(input: { email: string; password: string; role: UserRole; accountId: string | null }, now = Date.now()): Promise<UserRow> {
    const row: UserRow = {
      id: newId('usr', now),
      email: input.email.trim().toLowerCase(),
      password_hash: await hashPassword(input.password),
      role: input.role,
      account_id: input.accountId,
      created_at: now,
      failed_sign_ins: 0,
      locked_until: null,
      disabled_at: null,
      password_changed_at: now,
      time_zone: null,
      language: null,
    };
    await this.#db.insertInto('users').values(row).execute();
    return row;
  }

  /** The one unscoped read: sign-in is how the user, and so the account, is found. */
  async findByEmail(email: string): Promise<UserRow | undefined> {
    return this.#db.selectFrom('users').selectAll().where('email', '=', email.trim().toLowerCase()).executeTakeFirst();
  }

  /** Unscoped: how a session finds its user, and how platform staff reach any account's user. */
  async findById(userId: string): Promise<UserRow | undefined> {
    return this.#db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
  }

  /** A user of the account (null: a platform user). */
  async get(accountId: string | null, userId: string): Promise<UserRow | undefined> {
    let q = this.#db.selectFrom('users').selectAll().where('id', '=', userId);
    q = accountId === null ? q.where('account_id', 'is', null) : q.where('account_id', '=', accountId);
    return q.executeTakeFirst();
  }

  /** Newest first; `before` is the last id of the previous page. */
  async list(accountId: string | null, limit: number, before?: string): Promise<UserRow[]> {
    let q = this.#db.selectFrom('users').selectAll().orderBy('id', 'desc').limit(limit);
    q = accountId === null ? q.where('account_id', 'is', null) : q.where('account_id', '=', accountId);
    if (before) q = q.where('id', '<', before);
    return q.execute();
  }

  /** Counts a failed sign-in; the attempt that reaches the limit locks the user. Returns the lock's end, if locked. */
  async recordFailedSignIn(userId: string, now = Date.now()): Promise<number | null> {
    const row = await this.#db.selectFrom('users').select('failed_sign_ins').where('id', '=', userId).executeTakeFirstOrThrow();
    const failed = Number(row.failed_sign_ins) + 1;
    const lockedUntil = failed >= LOCKOUT.attempts ? now + LOCKOUT.durationMs : null;
    // A lock starts the count anew: after it ends, the user has the full number of attempts again.
    await this.#db
      .updateTable('users')
      .set({ failed_sign_ins: lockedUntil === null ? failed : 0, ...(lockedUntil === null ? {} : { locked_until: lockedUntil }) })
      .where('id', '=', userId)
      .execute();
    return lockedUntil;
  }

  async recordSignIn(userId: string): Promise<void> {
    await this.#db.updateTable('users').set({ failed_sign_ins: 0, locked_until: null }).where('id', '=', userId).execute();
  }

  /** Sets a new password and lifts a lockout (a reset by an administrator is also the way out of one). */
  async setPassword(accountId: string | null, userId: string, password: string, now = Date.now()): Promise<boolean> {
    let q = this.#db.updateTable('users').set({ password_hash: await hashPassword(password), password_changed_at: now, failed_sign_ins: 0, locked_until: null }).where('id', '=', userId);
    q = accountId === null ? q.where('account_id', 'is', null) : q.where('account_id', '=', accountId);
    const result = await q.executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** The user's own preferences (null: back to the default); only the fields given change. */
  async setPreferences(accountId: string | null, userId: string, patch: { timeZone?: string | null; language?: string | null }): Promise<UserRow | undefined> {
    const set = { ...(patch.timeZone === undefined ? {} : { time_zone: patch.timeZone }), ...(patch.language === undefined ? {} : { language: patch.language }) };
    if (Object.keys(set).length > 0) {
      let q = this.#db.updateTable('users').set(set).where('id', '=', userId);
      q = accountId === null ? q.where('account_id', 'is', null) : q.where('account_id', '=', accountId);
      await q.execute();
    }
    return this.get(accountId, userId);
  }

  async update(accountId: string | null, userId: string, patch: { role?: UserRole; disabledAt?: number | null }): Promise<UserRow | undefined> {
    const set = { ...(patch.role === undefined ? {} : { role: patch.role }), ...(patch.disabledAt === undefined ? {} : { disabled_at: patch.disabledAt }) };
    if (Object.keys(set).length > 0) {
      let q = this.#db.updateTable('users').set(set).where('id', '=', userId);
      q = accountId === null ? q.where('account_id', 'is', null) : q.where('account_id', '=', accountId);
      await q.execute();
    }
    return this.get(accountId, userId);
  }
}
