import { isBlockedAddress, literalAddress } from './address-guard.ts';

/**
 * Why `url` cannot receive webhooks, or undefined when it can: an absolute
 * http(s) URL without credentials and, unless `allowPrivateAddresses`, not
 * an IP address webhooks may not reach (a name is checked when connecting).
 */
export function webhookUrlProblem(url: string, allowPrivateAddresses: boolean): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be an absolute URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `must be http or https, not ${parsed.protocol.replace(/:$/, '')}`;
  if (parsed.username !== '' || parsed.password !== '') return 'must not carry a user name or password; the signature authenticates us';
  if (url.length > 2048) return 'must be at most 2048 characters';
  const literal = literalAddress(parsed);
  if (!allowPrivateAddresses && literal !== undefined && isBlockedAddress(literal)) return `must not point at a private, loopback or link-local address (${literal}); an operator may allow them with webhooks.allow_private_addresses`;
  return undefined;
}
