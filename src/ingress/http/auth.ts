import type { FastifyReply, FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import type { AuthNotice } from '../../cluster/auth-notices.ts';
import { ApiError } from '../../errors.ts';
import { hashApiKey, type Account, type AccountsRepository } from '../../store/accounts.ts';
import { csrfTokenFor, SESSION_TTL, type SessionsRepository } from '../../store/sessions.ts';
import { isPlatformRole, type UserRole, type UsersRepository } from '../../store/users.ts';

/** Who may do what: platform roles reach every account, account roles only their own. */
export type Role = UserRole;

export interface AuthContext {
  account: Account;
  /** the API key's id; for a session, the user's id (rate limits and stream limits count per caller) */
  keyId: string;
  /** `admin`: may manage what the whole gateway shares (connectors, routes): an admin key, a platform administrator or staff */
  role: 'admin' | 'account';
  /** the role the permission checks go by; an admin key counts as an administrator, an account key as the owner */
  principal: Role;
  /** the project an API key is bound to (its messages take its code and may name no other); absent: any project */
  projectId?: string;
  /** set when the caller signed in to the cabinet */
  session?: { id: string; userId: string; email: string; csrfToken: string; timeZone: string | null; language: string | null };
}

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthContext | undefined;
  }
}

export const SESSION_COOKIE = 'depesha_session';
export const CSRF_HEADER = 'x-csrf-token';

/**
 * How long a verified key is cached. A key revoked (or its account changed)
 * on this node is dropped at once; in a cluster the other API nodes are told
 * over Redis and drop it before the revocation answers (cluster/auth-notices.ts).
 * This expiry is the fallback: with the notice lost (Redis away) another node
 * takes a revoked key for at most this long.
 */
export const CACHE_TTL_MS = 30_000;
const CACHE_MAX = 10_000;

/** What is cached of keys changed: tells the other nodes of a cluster (absent on a single node). */
export type AuthNoticeSender = (notice: AuthNotice) => Promise<void>;

/**
 * Authenticates `Authorization: Bearer <api key>`. Keys are looked up by hash;
 * found keys are cached for CACHE_TTL_MS (30 s) so a busy client costs no query per request.
 */
export class ApiKeyAuthenticator implements AccountCache {
  readonly #accounts: AccountsRepository;
  readonly #cache = new Map<string, { auth: AuthContext; expires: number }>();
  /** moves on whenever something is dropped: a lookup that began before it (and may have read the key still live) is not cached */
  #generation = 0;
  #notify: AuthNoticeSender | undefined;

  constructor(accounts: AccountsRepository) {
    this.#accounts = accounts;
  }

  /** In a cluster: how to tell the other API nodes what forgetKey and forgetAccount drop (app.ts). */
  shareWith(notify: AuthNoticeSender): void {
    this.#notify = notify;
  }

  async authenticate(request: FastifyRequest): Promise<AuthContext> {
    const header = request.headers.authorization;
    if (!header) throw new ApiError('unauthorized', 'send your API key as "Authorization: Bearer <key>", or sign in to the cabinet', [], { 'www-authenticate': 'Bearer' });
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new ApiError('unauthorized', 'the Authorization header must be "Bearer <key>"', [], { 'www-authenticate': 'Bearer' });
    const hash = hashApiKey(match[1]!);
    const now = Date.now();
    const cached = this.#cache.get(hash);
    if (cached && cached.expires > now) return cached.auth;
    const generation = this.#generation;
    const key = await this.#accounts.findApiKeyByHash(hash);
    const account = key && (await this.#accounts.getAccount(key.accountId));
    if (!key || !account) {
      this.#cache.delete(hash);
      throw new ApiError('unauthorized', 'the API key is unknown or revoked', [], { 'www-authenticate': 'Bearer error="invalid_token"' });
    }
    const auth: AuthContext = { account, keyId: key.id, role: key.role, principal: key.role === 'admin' ? 'administrator' : 'owner', ...(key.projectId !== null ? { projectId: key.projectId } : {}) };
    // Something was dropped while this lookup read: what it read may be what was dropped; the next request reads again.
    if (generation !== this.#generation) return auth;
    if (this.#cache.size >= CACHE_MAX) this.#cache.clear();
    this.#cache.set(hash, { auth, expires: now + CACHE_TTL_MS });
    return auth;
  }

  /** The account's settings changed: drops its keys here, and on the other API nodes before it resolves. */
  async forgetAccount(accountId: string): Promise<void> {
    this.dropAccount(accountId);
    await this.#notify?.({ kind: 'account_changed', accountId });
  }

  /** A key was revoked: drops it here at once rather than after the cache's 30 s, and on the other API nodes before it resolves. */
  async forgetKey(accountId: string, keyId: string): Promise<void> {
    this.dropKey(keyId);
    await this.#notify?.({ kind: 'key_revoked', accountId, keyId });
  }

  /** Drops what is cached of an account's keys, on this node only (another node's notice). */
  dropAccount(accountId: string): void {
    this.#generation++;
    for (const [hash, entry] of this.#cache) if (entry.auth.account.id === accountId) this.#cache.delete(hash);
  }

  /** Drops a key, on this node only (another node's notice). */
  dropKey(keyId: string): void {
    this.#generation++;
    for (const [hash, entry] of this.#cache) if (entry.auth.keyId === keyId) this.#cache.delete(hash);
  }

  /** Drops every cached key (this node may have missed notices). */
  dropAll(): void {
    this.#generation++;
    this.#cache.clear();
  }
}

export interface AccountCache {
  /** Drops what is cached of an account's keys, so the next request reads the account anew (its settings changed); in a cluster on every API node. */
  forgetAccount(accountId: string): Promise<void>;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * API keys in the Authorization header, else the cabinet's session cookie.
 * A cookie-authenticated request that changes something must also carry the
 * session's CSRF token in `X-CSRF-Token`: a form or script on another site
 * sends the cookie but cannot read the token.
 */
export class Authenticator implements AccountCache {
  readonly keys: ApiKeyAuthenticator;
  readonly #accounts: AccountsRepository;
  readonly #users: UsersRepository;
  readonly #sessions: SessionsRepository;

  constructor(accounts: AccountsRepository, users: UsersRepository, sessions: SessionsRepository) {
    this.keys = new ApiKeyAuthenticator(accounts);
    this.#accounts = accounts;
    this.#users = users;
    this.#sessions = sessions;
  }

  async authenticate(request: FastifyRequest): Promise<AuthContext> {
    const token = request.cookies[SESSION_COOKIE];
    if (request.headers.authorization || !token) return this.keys.authenticate(request);
    const session = await this.#sessions.findLive(token);
    const user = session && (await this.#users.findById(session.user_id));
    const account = session && (await this.#accounts.getAccount(session.account_id));
    // An account user's session acts in that user's account only; a platform user's in any.
    const allowed = user && user.disabled_at === null && (isPlatformRole(user.role) || user.account_id === session.account_id);
    if (!session || !user || !allowed || !account) throw new ApiError('unauthorized', 'the session has ended; sign in again');
    const csrfToken = csrfTokenFor(token);
    if (!SAFE_METHODS.has(request.method) && !sameToken(request.headers[CSRF_HEADER], csrfToken)) {
      throw new ApiError('csrf_token_invalid', `a signed-in request that changes something must carry the session's CSRF token in ${CSRF_HEADER} (GET /v1/session gives it)`);
    }
    const principal = user.role as Role;
    return {
      account,
      keyId: user.id,
      role: isPlatformRole(principal) ? 'admin' : 'account',
      principal,
      session: { id: session.id, userId: user.id, email: user.email, csrfToken, timeZone: user.time_zone, language: user.language },
    };
  }

  forgetAccount(accountId: string): Promise<void> {
    return this.keys.forgetAccount(accountId);
  }
}

function sameToken(given: string | string[] | undefined, expected: string): boolean {
  if (typeof given !== 'string' || given.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(given), Buffer.from(expected));
}

/**
 * The session cookie: HttpOnly, SameSite=Strict; Secure over HTTPS (behind a trusted reverse proxy,
 * `http.trust_proxy`: as its X-Forwarded-Proto says) and on localhost (where browsers accept it over plain HTTP).
 */
export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, token: string): void {
  reply.setCookie(SESSION_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'strict', secure: cookieSecure(request), maxAge: Math.floor(SESSION_TTL.absoluteMs / 1000) });
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'strict', secure: cookieSecure(request) });
}

function cookieSecure(request: FastifyRequest): boolean {
  return request.protocol === 'https' || request.hostname === 'localhost' || request.hostname.startsWith('localhost:');
}

export function requireAuth(request: FastifyRequest): AuthContext {
  if (!request.auth) throw new ApiError('unauthorized', 'authentication required');
  return request.auth;
}

/** For what the whole gateway shares (connectors, routes): an admin key, a platform administrator or staff. */
export function requireAdmin(request: FastifyRequest): AuthContext {
  const auth = requireAuth(request);
  if (auth.role !== 'admin') throw new ApiError('forbidden', 'this needs an administrator API key or a platform administrator; account keys and users reach only their own account');
  return auth;
}

/** One of these roles, or forbidden. */
export function requireRole(request: FastifyRequest, roles: readonly Role[]): AuthContext {
  const auth = requireAuth(request);
  if (!roles.includes(auth.principal)) throw new ApiError('forbidden', `this needs the role ${roles.join(' or ')}; you are ${auth.principal}`);
  return auth;
}

// Changes that every signed-in user may make for themselves (an export only reads the account's messages).
const SELF_SERVICE = new Set(['DELETE /v1/session', 'PATCH /v1/session', 'POST /v1/session/password', 'POST /v1/sms/segments', 'POST /v1/exports']);
// What a manager may read but only an owner (or the platform) may change.
const OWNER_ONLY = ['/v1/api-keys', '/v1/users', '/v1/account', '/v1/smpp/'];

/**
 * The role gate every request passes, whatever the endpoint: a viewer changes
 * nothing, a manager changes the account's traffic and integrations but not
 * its people, keys and settings. Endpoints add their own checks on top
 * (requireAdmin, requireRole).
 */
export function checkRole(auth: AuthContext, method: string, routeUrl: string | undefined): void {
  if (SAFE_METHODS.has(method) || SELF_SERVICE.has(`${method} ${routeUrl}`)) return;
  if (auth.principal === 'viewer') throw new ApiError('forbidden', 'a viewer may look but not change anything; ask an owner for the manager role');
  if (auth.principal === 'manager' && routeUrl !== undefined && OWNER_ONLY.some((p) => routeUrl.startsWith(p))) {
    throw new ApiError('forbidden', 'only an owner may change API keys, users, SMPP logins and account settings');
  }
}
