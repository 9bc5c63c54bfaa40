import { timingSafeEqual } from 'node:crypto';
import { ConnectorError } from '../types.ts';

/** A provider's HTTP answer: the status, the raw text and, when it parses, the JSON. */
export interface ProviderReply {
  status: number;
  text: string;
  json: unknown;
}

/** How long a provider's HTTP answer is waited for unless a definition says otherwise. */
export const DEFAULT_HTTP_TIMEOUT_MS = 15_000;

/**
 * One JSON request to a provider's API. A network failure or timeout is a
 * retryable operator_unavailable (the link is failing); every HTTP answer is
 * returned for the connector to read, since each provider says "no" its own way.
 */
export async function requestJson(connectorId: string, url: string, options: { method?: 'GET' | 'POST'; body?: unknown; headers?: Record<string, string>; timeoutMs?: number }): Promise<ProviderReply> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: options.method ?? 'POST',
      headers: { ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...(options.headers ?? {}) },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS),
    });
    text = await res.text();
  } catch (err) {
    throw new ConnectorError(`${connectorId}: the provider did not answer: ${(err as Error).message}`, { retryable: true, reason: 'operator_unavailable', cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

/** Constant-time comparison of a secret or signature someone sent with the one we expect. */
export function secretEquals(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The ids send() returns for a provider that took the whole text: its one id
 * once per SMS part the pipeline counts, and at least once (a template
 * message may have no text of its own).
 */
export function wholeMessageIds(parts: readonly unknown[], providerId: string): string[] {
  return Array.from({ length: Math.max(1, parts.length) }, () => providerId);
}
