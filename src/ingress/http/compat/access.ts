import type { FastifyRequest } from 'fastify';
import type { CompatRepository } from '../../../store/compat-requests.ts';
import type { AccountsRepository } from '../../../store/accounts.ts';
import type { ApiKeyAuthenticator, AuthContext } from '../auth.ts';

/**
 * Who calls a compatibility API (G3). The seeds say "no authorisation"; the
 * platform's rule is that every call is someone's: an API key
 * (`Authorization: Bearer …`), or an address an administrator opened for one
 * account. A key that is given must be valid (an allow-listed address does not
 * rescue a bad key). Undefined: refused.
 */
export async function compatCaller(request: FastifyRequest, authenticator: ApiKeyAuthenticator, compat: CompatRepository, accounts: AccountsRepository): Promise<AuthContext | undefined> {
  if (request.headers.authorization !== undefined) {
    try {
      return await authenticator.authenticate(request);
    } catch {
      return undefined;
    }
  }
  const accountId = await compat.accountForAddress(request.ip);
  const account = accountId && (await accounts.getAccount(accountId));
  return account ? { account, keyId: `ip:${request.ip}`, role: 'account', principal: 'manager' } : undefined;
}

/** The raw body of a request that Fastify does not parse (a GET with a JSON body), up to `limit` bytes. */
export async function readRawBody(request: FastifyRequest, limit: number): Promise<string | 'too_large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request.raw as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return 'too_large';
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
