import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { newId } from '../domain/ids.ts';
import type { DB, SessionsTable } from './schema.ts';

export type SessionRow = SessionsTable;

/** A session lasts at most this long, and ends sooner after this long unused. */
export const SESSION_TTL = { absoluteMs: 7 * 24 * 3600_000, idleMs: 24 * 3600_000 };
// last_seen_at is written at most this often: a busy cabinet costs no write per request.
const TOUCH_EVERY_MS = 5 * 60_000;

export function hashSessionToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * The CSRF token of a session: derived from the cookie's secret token, so it
 * needs no storage, and a page on another site, which cannot read the cookie,
 * cannot compute it.
 */
export function csrfTokenFor(sessionToken: string): string {
  return createHash('sha256').update(`csrf:${sessionToken}`).digest('base64url');
}

export class SessionsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /** A new session; returns the row and the plain token for the cookie (kept only as its hash). */
  async create(input: { userId: string; accountId: string; ip: string | null; userAgent: string | null }, now = Date.now()): Promise<{ session: SessionRow; token: string }> {
    const token = randomBytes(32).toString('base64url');
    const session: SessionRow = {
      id: newId('ses', now),
      token_hash: hashSessionToken(token),
      user_id: input.userId,
      account_id: input.accountId,
      ip: input.ip,
      user_agent: input.userAgent?.slice(0, 300) ?? null,
      created_at: now,
      last_seen_at: now,
      expires_at: now + SESSION_TTL.absoluteMs,
      revoked_at: null,
    };
    await this.#db.insertInto('sessions').values(session).execute();
    return { session, token };
  }

  /** The live session with this token, or undefined (unknown, revoked, expired or idle too long). */
  async findLive(token: string, now = Date.now()): Promise<SessionRow | undefined> {
    const row = await this.#db.selectFrom('sessions').selectAll().where('token_hash', '=', hashSessionToken(token)).where('revoked_at', 'is', null).executeTakeFirst();
    if (!row || row.expires_at <= now || row.last_seen_at + SESSION_TTL.idleMs <= now) return undefined;
    if (now - row.last_seen_at > TOUCH_EVERY_MS) {
      await this.#db.updateTable('sessions').set({ last_seen_at: now }).where('id', '=', row.id).execute();
    }
    return row;
  }

  /**
   * Whether the session is live still (not revoked, expired or idle too long), without counting
   * as a use of it: what an open event stream checks now and then (routes/events.ts).
   */
  async isLive(sessionId: string, now = Date.now()): Promise<boolean> {
    const row = await this.#db.selectFrom('sessions').select(['revoked_at', 'expires_at', 'last_seen_at']).where('id', '=', sessionId).executeTakeFirst();
    return row !== undefined && row.revoked_at === null && row.expires_at > now && row.last_seen_at + SESSION_TTL.idleMs > now;
  }

  async switchAccount(sessionId: string, accountId: string): Promise<void> {
    await this.#db.updateTable('sessions').set({ account_id: accountId }).where('id', '=', sessionId).execute();
  }

  async revoke(sessionId: string, now = Date.now()): Promise<void> {
    await this.#db.updateTable('sessions').set({ revoked_at: now }).where('id', '=', sessionId).where('revoked_at', 'is', null).execute();
  }

  /** Ends the user's sessions (password changed or reset, user disabled), except `keep`. */
  async revokeUser(userId: string, keep?: string, now = Date.now()): Promise<void> {
    let q = this.#db.updateTable('sessions').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null);
    if (keep) q = q.where('id', '!=', keep);
    await q.execute();
  }
}
