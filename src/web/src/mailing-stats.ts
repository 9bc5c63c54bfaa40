import type { MailingStats } from './api.ts';

/** A mailing's run as the progress panel shows it, from its statistics (GET /v1/mailings/{id}/stats or a `mailing.progress` event). */
export interface RunProgress {
  /** recipients the run went through so far: given a message, or skipped */
  through: number;
  audience: number | null;
  remaining: number | null;
  /** 0–100; null while the audience is not known (a segment's run before its end) */
  percent: number | null;
  /** messages that reached the provider (sent, and those with an answer from it) */
  sent: number;
  delivered: number;
  errors: number;
  skipped: number;
  /** the run is over: finished or cancelled */
  final: boolean;
}

const SENT = ['sent', 'delivered', 'read', 'undelivered'];
const FINAL = new Set(['finished', 'cancelled']);

export function runProgress(s: MailingStats): RunProgress {
  const through = s.recipients.accepted + s.recipients.skipped;
  // The run's messages only: a recurring mailing's earlier runs are not this run's figures.
  const count = (statuses: string[]) => statuses.reduce((n, k) => n + (s.run_messages[k] ?? 0), 0);
  const final = FINAL.has(s.status);
  let percent: number | null = null;
  if (s.audience !== null && s.audience > 0) percent = Math.min(100, Math.floor((Math.max(0, s.audience - (s.remaining ?? s.audience - through)) / s.audience) * 100));
  else if (s.audience === 0 || (s.status === 'finished' && s.run_number > 0)) percent = 100;
  return { through, audience: s.audience, remaining: s.remaining, percent, sent: count(SENT), delivered: count(['delivered', 'read']), errors: s.run_errors, skipped: s.recipients.skipped, final };
}

/**
 * The statistics to keep when other ones arrive: the stream's event and a
 * poll's answer may cross, and the older of the two must not set the panel
 * back. A later run wins; in the same run, the figures of a run that is over
 * are not replaced by a running one, nor more recipients by fewer.
 */
export function newerStats(current: MailingStats | undefined, next: MailingStats): MailingStats {
  if (!current || current.mailing_id !== next.mailing_id) return next;
  if (next.run_number !== current.run_number) return next.run_number > current.run_number ? next : current;
  if (FINAL.has(current.status) && !FINAL.has(next.status)) return current;
  const through = (s: MailingStats) => s.recipients.accepted + s.recipients.skipped;
  if (through(next) < through(current)) return current;
  return next;
}
