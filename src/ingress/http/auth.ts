import type { FastifyRequest } from 'fastify';
import { ApiError } from '../../errors.ts';
import { hashApiKey, type Account, type AccountsRepository } from '../../store/accounts.ts';

export interface AuthContext {
  account: Account;
  keyId: string;
  role: 'admin' | 'account';
}

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthContext | undefined;
  }
}

const CACHE_TTL_MS = 30_000;
const CACHE_MAX = 10_000;

/**
 * Authenticates `Authorization: Bearer <api key>`. Keys are looked up by hash;
 * found keys are cached for 30 s so a busy client costs no query per request.
 */
export class ApiKeyAuthenticator implements AccountCache {
  readonly #accounts: AccountsRepository;
  readonly #cache = new Map<string, { auth: AuthContext; expires: number }>();

  constructor(accounts: AccountsRepository) {
    this.#accounts = accounts;
  }

  async authenticate(request: FastifyRequest): Promise<AuthContext> {
    const header = request.headers.authorization;
    if (!header) throw new ApiError('unauthorized', 'send your API key as "Authorization: Bearer <key>"', [], { 'www-authenticate': 'Bearer' });
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new ApiError('unauthorized', 'the Authorization header must be "Bearer <key>"', [], { 'www-authenticate': 'Bearer' });
    const hash = hashApiKey(match[1]!);
    const now = Date.now();
    const cached = this.#cache.get(hash);
    if (cached && cached.expires > now) return cached.auth;
    const key = await this.#accounts.findApiKeyByHash(hash);
    const account = key && (await this.#accounts.getAccount(key.accountId));
    if (!key || !account) {
      this.#cache.delete(hash);
      throw new ApiError('unauthorized', 'the API key is unknown or revoked', [], { 'www-authenticate': 'Bearer error="invalid_token"' });
    }
    const auth = { account, keyId: key.id, role: key.role };
    if (this.#cache.size >= CACHE_MAX) this.#cache.clear();
    this.#cache.set(hash, { auth, expires: now + CACHE_TTL_MS });
    return auth;
  }

  forgetAccount(accountId: string): void {
    for (const [hash, entry] of this.#cache) if (entry.auth.account.id === accountId) this.#cache.delete(hash);
  }
}

export interface AccountCache {
  /** Drops what is cached of an account's keys, so the next request reads the account anew (its settings changed). */
  forgetAccount(accountId: string): void;
}

export function requireAuth(request: FastifyRequest): AuthContext {
  if (!request.auth) throw new ApiError('unauthorized', 'authentication required');
  return request.auth;
}

/** For what the whole gateway shares (connectors, routes): an admin key only. */
export function requireAdmin(request: FastifyRequest): AuthContext {
  const auth = requireAuth(request);
  if (auth.role !== 'admin') throw new ApiError('forbidden', 'this needs an administrator API key; account keys reach only their own account');
  return auth;
}
