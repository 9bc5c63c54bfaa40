import type { FailureReason, ReasonCode } from '../../domain/reasons.ts';

/**
 * Delivery status notifications (RFC 3464) as relays send them back: a
 * multipart/report whose message/delivery-status part says, per recipient,
 * the Action (failed, delivered, relayed, delayed, expanded) and the Status
 * (an RFC 3463 enhanced code, 5.1.1 …). We send with ENVID = our message id,
 * so `Original-Envelope-Id` names the message; the VERP return path
 * (`bounces+<id>@domain`) is the fallback for relays that drop it.
 */
export interface Dsn {
  /** our message id */
  messageId: string;
  action: 'failed' | 'delivered' | 'relayed' | 'delayed' | 'expanded';
  /** the enhanced status code, e.g. 5.1.1 */
  status: string;
  diagnostic: string | undefined;
}

/** Enhanced status codes we can name (RFC 3463); other 5.x.x are operator_rejected, 4.x.x unknown. */
const STATUS_REASONS: [RegExp, ReasonCode][] = [
  [/^5\.1\.(1|2|3|6|10)$/, 'subscriber_unknown'],
  [/^5\.2\.1$/, 'subscriber_blocked'],
  [/^[45]\.2\.2$/, 'memory_full'],
  [/^5\.7\.(1|26)$/, 'content_rejected'],
  [/^5\.1\.[78]$/, 'invalid_sender'],
  [/^4\.4\.7$/, 'validity_expired'],
];

export function dsnReason(status: string, diagnostic: string | undefined): FailureReason {
  const code = STATUS_REASONS.find(([re]) => re.test(status))?.[1] ?? (status.startsWith('5.') ? 'operator_rejected' : 'unknown');
  return { code, providerCode: status, detail: diagnostic };
}

/** Reads "Field: value" lines of a delivery-status body, per-recipient groups merged (we send one recipient per message). */
function fields(text: string): Map<string, string> {
  const out = new Map<string, string>();
  // Unfold continuation lines first (RFC 5322 folding).
  for (const line of text.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
    if (m && !out.has(m[1]!.toLowerCase())) out.set(m[1]!.toLowerCase(), m[2]!.trim());
  }
  return out;
}

/**
 * The body of the report's message/delivery-status part. mailparser folds
 * that part into the text, so the report's own parts are split here by the
 * boundary mailparser read from the headers.
 */
function deliveryStatusPart(raw: string, boundary: string): string | null {
  for (const part of raw.split(`--${boundary}`)) {
    const split = /\r?\n\r?\n/.exec(part);
    if (!split) continue;
    const headers = part.slice(0, split.index);
    if (/^content-type:\s*message\/(global-)?delivery-status/im.test(headers)) return part.slice(split.index + split[0].length);
  }
  return null;
}

const ACTIONS = new Set(['failed', 'delivered', 'relayed', 'delayed', 'expanded']);

/** A raw incoming mail → the DSN it is, or null when it is not a DSN about one of our messages. */
export async function parseDsn(raw: Buffer | string, recipients: readonly string[], verpPrefix: string): Promise<Dsn | null> {
  const { simpleParser } = await import('mailparser'); // loaded with the first bounce, not by every process
  const mail = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
  const type = mail.headers.get('content-type') as { value?: string; params?: Record<string, string> } | undefined;
  if (type?.value !== 'multipart/report' || !type.params?.boundary) return null;
  const status = deliveryStatusPart(raw.toString(), type.params.boundary);
  if (status === null) return null;
  const f = fields(status);
  const action = f.get('action')?.toLowerCase();
  const code = /(\d\.\d{1,3}\.\d{1,3})/.exec(f.get('status') ?? '')?.[1];
  if (!action || !ACTIONS.has(action) || !code) return null;
  let messageId = f.get('original-envelope-id');
  if (!messageId) {
    const verp = recipients.find((r) => r.toLowerCase().startsWith(`${verpPrefix.toLowerCase()}+`));
    messageId = verp?.slice(verpPrefix.length + 1, verp.indexOf('@'));
  }
  if (!messageId) return null;
  const diagnostic = f.get('diagnostic-code')?.replace(/^smtp;\s*/i, '');
  return { messageId, action: action as Dsn['action'], status: code, diagnostic };
}
