/** Why `url` cannot receive webhooks, or undefined when it can: an absolute http(s) URL without credentials. */
export function webhookUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be an absolute URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `must be http or https, not ${parsed.protocol.replace(/:$/, '')}`;
  if (parsed.username !== '' || parsed.password !== '') return 'must not carry a user name or password; the signature authenticates us';
  if (url.length > 2048) return 'must be at most 2048 characters';
  return undefined;
}
