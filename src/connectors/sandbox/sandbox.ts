import { randomBytes } from 'node:crypto';
import type { FailureReason } from '../../domain/reasons.ts';
import { ConnectorError, type Connector, type ConnectorContext, type ConnectorManifest, type ConnectorState, type OutboundMessage, type Receipt, type RefusedPart, type SendResult } from '../types.ts';
import { SandboxJournal, type JournalSend } from './journal.ts';

export interface SandboxOptions {
  id: string;
  /** time a submit takes, default 5 ms */
  sendLatencyMs?: number;
  /** time from submit to receipt, default 200 ms */
  receiptDelayMs?: number;
  /** JSON-lines file that makes submits idempotent and receipts survive restarts; memory only when unset */
  journalPath?: string | undefined;
  /** which numbers get which outcome, as `parseSandboxOutcomes` reads it; default DEFAULT_SANDBOX_OUTCOMES */
  outcomes?: string | undefined;
}

/**
 * What the simulated operator does with a message: `delivered`; `undelivered`
 * (a permanent failure reported by the receipt, UNDELIV); `throttled_once`
 * (the first attempt refused with 0x58, a temporary error, then delivered);
 * `rejected` (refused at submit for good, 0x0B); `expired` (the receipt says
 * EXPIRED); `part_throttled_once` (on the first attempt part 2 of a long text
 * is refused with 0x58 while the others are taken, then sent alone and every
 * part delivered; a one-part text is throttled_once).
 */
export const SANDBOX_OUTCOMES = ['delivered', 'undelivered', 'throttled_once', 'rejected', 'expired', 'part_throttled_once'] as const;
export type SandboxOutcome = (typeof SANDBOX_OUTCOMES)[number];

/** The outcomes by the number's last digits when none are configured (docs/api.md, Sandbox). */
export const DEFAULT_SANDBOX_OUTCOMES = '0000=undelivered,0001=throttled_once,0002=rejected,0003=expired';

/** `SUFFIX=OUTCOME` pairs separated by commas, or nothing: the shape the schemas check (definitions.ts, config.ts). */
export const SANDBOX_OUTCOMES_PATTERN = `^\\s*$|^\\s*[0-9]{1,15}\\s*=\\s*(${SANDBOX_OUTCOMES.join('|')})\\s*(,\\s*[0-9]{1,15}\\s*=\\s*(${SANDBOX_OUTCOMES.join('|')})\\s*)*$`;

/**
 * Reads the outcome table: `0000=undelivered,0001=throttled_once` gives numbers
 * ending in 0000 and 0001 those outcomes and every other number `delivered`.
 * The longest matching ending wins; an empty table delivers everything. A
 * table given replaces the default one. Throws a RangeError naming the bad pair.
 */
export function parseSandboxOutcomes(table: string): { suffix: string; outcome: SandboxOutcome }[] {
  const rules: { suffix: string; outcome: SandboxOutcome }[] = [];
  if (table.trim() === '') return rules;
  for (const pair of table.split(',')) {
    const m = /^\s*([0-9]{1,15})\s*=\s*([a-z_]+)\s*$/.exec(pair);
    if (!m || !(SANDBOX_OUTCOMES as readonly string[]).includes(m[2]!)) {
      throw new RangeError(`sandbox outcomes: "${pair.trim()}" is not DIGITS=OUTCOME with OUTCOME one of ${SANDBOX_OUTCOMES.join(', ')}`);
    }
    rules.push({ suffix: m[1]!, outcome: m[2] as SandboxOutcome });
  }
  return rules.sort((a, b) => b.suffix.length - a.suffix.length);
}

export const sandboxManifest: ConnectorManifest = {
  type: 'sandbox',
  name: 'Sandbox (simulated operator)',
  channels: ['sms'],
  fields: [
    { name: 'send_latency_ms', label: 'Submit latency, ms', type: 'integer', required: false, default: 5, description: 'How long the simulated operator takes to accept a message.' },
    { name: 'receipt_delay_ms', label: 'Receipt delay, ms', type: 'integer', required: false, default: 200, description: 'How long after the submit the delivery receipt arrives.' },
    {
      name: 'outcomes',
      label: 'Outcomes by number ending',
      type: 'string',
      required: false,
      default: DEFAULT_SANDBOX_OUTCOMES,
      description: `ENDING=OUTCOME pairs, comma-separated; the longest matching ending wins, every other number is delivered. Outcomes: ${SANDBOX_OUTCOMES.join(', ')}.`,
    },
  ],
};

const RECEIPT_RE = /^id:(\S+) stat:([A-Z]+) err:(\d{3})$/;

/** A real connector behind the common interface, talking to a simulated operator in memory. */
export class SandboxConnector implements Connector {
  readonly id: string;
  readonly manifest = sandboxManifest;
  readonly #sendLatencyMs: number;
  readonly #receiptDelayMs: number;
  readonly #journal: SandboxJournal | undefined;
  readonly #outcomes: { suffix: string; outcome: SandboxOutcome }[];
  /** sends whose receipt we have not acknowledged yet, by submit key: for idempotent resubmits and redelivery */
  readonly #open = new Map<string, JournalSend>();
  #acksSinceCompaction = 0;
  readonly #timers = new Set<NodeJS.Timeout>();
  #context: ConnectorContext | undefined;
  #stopped = true;
  #since = Date.now();

  constructor(options: SandboxOptions) {
    this.id = options.id;
    this.#sendLatencyMs = options.sendLatencyMs ?? 5;
    this.#receiptDelayMs = options.receiptDelayMs ?? 200;
    this.#journal = options.journalPath ? new SandboxJournal(options.journalPath) : undefined;
    this.#outcomes = parseSandboxOutcomes(options.outcomes ?? DEFAULT_SANDBOX_OUTCOMES);
  }

  #outcomeFor(e164: string): SandboxOutcome {
    return this.#outcomes.find((r) => e164.endsWith(r.suffix))?.outcome ?? 'delivered';
  }

  async start(context: ConnectorContext): Promise<void> {
    this.#context = context;
    this.#stopped = false;
    this.#since = Date.now();
    for (const send of this.#journal?.load() ?? []) {
      this.#open.set(send.key, send);
      this.#schedule(send);
    }
  }

  state(): ConnectorState {
    const up = !this.#stopped;
    return { id: this.id, type: 'sandbox', status: up ? 'up' : 'stopped', detail: null, since: this.#since, links: { up: up ? 1 : 0, total: 1 }, inFlight: 0 };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#since = Date.now();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    if (this.#sendLatencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.#sendLatencyMs));
    const outcome = this.#outcomeFor(message.to);
    if (outcome === 'rejected') {
      throw new ConnectorError('sandbox: destination address refused', { retryable: false, reason: 'invalid_destination', providerCode: '0x0000000B' });
    }
    const firstTry = message.attempt === 1;
    if (firstTry && (outcome === 'throttled_once' || (outcome === 'part_throttled_once' && message.parts.length === 1))) {
      throw new ConnectorError('sandbox: throttled', { retryable: true, reason: 'operator_throttled', providerCode: '0x00000058' });
    }
    const providerIds: string[] = [];
    const fresh: JournalSend[] = [];
    const deferred: RefusedPart[] = [];
    for (const part of message.parts) {
      const taken = message.resume?.taken.get(part.index);
      if (taken !== undefined) {
        providerIds.push(taken);
        continue;
      }
      if (firstTry && outcome === 'part_throttled_once' && part.index === 2) {
        deferred.push({ part: part.index, reason: { code: 'operator_throttled', providerCode: '0x00000058', detail: 'sandbox: part 2 throttled' } });
        providerIds.push('');
        continue;
      }
      const key = `${message.id}:${part.index}`;
      const known = this.#open.get(key);
      if (known) {
        providerIds.push(known.providerId);
        continue;
      }
      const providerId = randomBytes(8).toString('hex');
      const receipt = outcome === 'undelivered' ? `id:${providerId} stat:UNDELIV err:001` : outcome === 'expired' ? `id:${providerId} stat:EXPIRED err:000` : `id:${providerId} stat:DELIVRD err:000`;
      fresh.push({ key, providerId, receipt, dueAt: Date.now() + this.#receiptDelayMs });
      providerIds.push(providerId);
    }
    // The operator's memory is written before it answers, as an SMSC stores before submit_sm_resp.
    if (this.#journal && fresh.length > 0) await Promise.all(fresh.map((s) => this.#journal!.recordSend(s)));
    for (const send of fresh) {
      this.#open.set(send.key, send);
      this.#schedule(send);
    }
    return deferred.length > 0 ? { providerIds, deferred } : { providerIds };
  }

  parseReceipt(raw: unknown): Receipt | null {
    if (typeof raw !== 'string') return null;
    const m = RECEIPT_RE.exec(raw);
    if (!m) return null;
    const [, providerMessageId, stat, err] = m as unknown as [string, string, string, string];
    const at = Date.now();
    switch (stat) {
      case 'DELIVRD':
        return { connectorId: this.id, providerMessageId, status: 'delivered', at };
      case 'EXPIRED':
        return { connectorId: this.id, providerMessageId, status: 'expired', reason: { code: 'validity_expired', providerCode: `stat:EXPIRED err:${err}` }, at };
      case 'UNDELIV': {
        const reason: FailureReason = { code: err === '001' ? 'subscriber_unknown' : 'unknown', providerCode: `stat:UNDELIV err:${err}` };
        return { connectorId: this.id, providerMessageId, status: 'undelivered', reason, at };
      }
      default:
        return null;
    }
  }

  #schedule(send: JournalSend): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void this.#deliver(send);
    }, Math.max(0, send.dueAt - Date.now()));
    this.#timers.add(timer);
  }

  async #deliver(send: JournalSend): Promise<void> {
    if (this.#stopped || !this.#context) return;
    const receipt = this.parseReceipt(send.receipt);
    if (!receipt) return;
    try {
      await this.#context.receipt(receipt);
      // Acknowledged: the message is recorded as sent on our side, so no resubmit can follow.
      this.#open.delete(send.key);
      if (this.#journal) {
        await this.#journal.recordAck(send.providerId);
        if (++this.#acksSinceCompaction >= 100_000) {
          this.#acksSinceCompaction = 0;
          this.#journal.compact(this.#open.values());
        }
      }
    } catch {
      // Not recorded on our side: deliver again later, as an SMSC re-sends an unacknowledged deliver_sm.
      if (!this.#stopped) this.#schedule({ ...send, dueAt: Date.now() + 1000 });
    }
  }
}
