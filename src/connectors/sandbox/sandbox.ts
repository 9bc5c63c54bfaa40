import { randomBytes } from 'node:crypto';
import type { FailureReason } from '../../domain/reasons.ts';
import { ConnectorError, type Connector, type ConnectorContext, type ConnectorManifest, type ConnectorState, type OutboundMessage, type Receipt, type SendResult } from '../types.ts';
import { SandboxJournal, type JournalSend } from './journal.ts';

export interface SandboxOptions {
  id: string;
  /** time a submit takes, default 5 ms */
  sendLatencyMs?: number;
  /** time from submit to receipt, default 200 ms */
  receiptDelayMs?: number;
  /** JSON-lines file that makes submits idempotent and receipts survive restarts; memory only when unset */
  journalPath?: string | undefined;
}

export const sandboxManifest: ConnectorManifest = {
  type: 'sandbox',
  name: 'Sandbox (simulated operator)',
  channels: ['sms'],
  fields: [
    { name: 'send_latency_ms', label: 'Submit latency, ms', type: 'integer', required: false, default: 5, description: 'How long the simulated operator takes to accept a message.' },
    { name: 'receipt_delay_ms', label: 'Receipt delay, ms', type: 'integer', required: false, default: 200, description: 'How long after the submit the delivery receipt arrives.' },
  ],
};

/**
 * How the sandbox treats a number, by its last four digits (documented in docs/api.md):
 * `0000` undeliverable (permanent), `0001` throttled on the first attempt then delivered,
 * `0002` refused at submit (permanent), `0003` expires in the network; anything else is delivered.
 */
type Outcome = 'delivered' | 'undeliverable' | 'throttle_once' | 'refused' | 'expires';

function outcomeFor(e164: string): Outcome {
  switch (e164.slice(-4)) {
    case '0000':
      return 'undeliverable';
    case '0001':
      return 'throttle_once';
    case '0002':
      return 'refused';
    case '0003':
      return 'expires';
    default:
      return 'delivered';
  }
}

const RECEIPT_RE = /^id:(\S+) stat:([A-Z]+) err:(\d{3})$/;

/** A real connector behind the common interface, talking to a simulated operator in memory. */
export class SandboxConnector implements Connector {
  readonly id: string;
  readonly manifest = sandboxManifest;
  readonly #sendLatencyMs: number;
  readonly #receiptDelayMs: number;
  readonly #journal: SandboxJournal | undefined;
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
    const outcome = outcomeFor(message.to);
    if (outcome === 'refused') {
      throw new ConnectorError('sandbox: destination address refused', { retryable: false, reason: 'invalid_destination', providerCode: '0x0000000B' });
    }
    if (outcome === 'throttle_once' && message.attempt === 1) {
      throw new ConnectorError('sandbox: throttled', { retryable: true, reason: 'operator_throttled', providerCode: '0x00000058' });
    }
    const providerIds: string[] = [];
    const fresh: JournalSend[] = [];
    for (const part of message.parts) {
      const key = `${message.id}:${part.index}`;
      const known = this.#open.get(key);
      if (known) {
        providerIds.push(known.providerId);
        continue;
      }
      const providerId = randomBytes(8).toString('hex');
      const receipt = outcome === 'undeliverable' ? `id:${providerId} stat:UNDELIV err:001` : outcome === 'expires' ? `id:${providerId} stat:EXPIRED err:000` : `id:${providerId} stat:DELIVRD err:000`;
      fresh.push({ key, providerId, receipt, dueAt: Date.now() + this.#receiptDelayMs });
      providerIds.push(providerId);
    }
    // The operator's memory is written before it answers, as an SMSC stores before submit_sm_resp.
    if (this.#journal && fresh.length > 0) await Promise.all(fresh.map((s) => this.#journal!.recordSend(s)));
    for (const send of fresh) {
      this.#open.set(send.key, send);
      this.#schedule(send);
    }
    return { providerIds };
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
