import type { Kysely } from 'kysely';
import type { Connector } from '../connectors/types.ts';
import type { Logger } from '../log.ts';
import type { DB } from '../store/schema.ts';
import { VerificationsRepository, type EndedVerification } from '../store/verifications.ts';

export interface VerificationSweeperOptions {
  /** how often due verifications are read, default 1000 ms */
  pollMs?: number | undefined;
  /** after a failed revoke, when to try again, default 30 s */
  retryMs?: number | undefined;
  /** how long after its expiry a verification's revokes are still tried, default 1 h */
  giveUpMs?: number | undefined;
  /** how long a node holds a verification it is handling before another may take it, default 60 s */
  leaseMs?: number | undefined;
  /** tells the cascade of this parent message to start no further step (CascadeEngine.stopAfterCurrent) */
  stopCascade?: ((messageId: string) => Promise<unknown>) | undefined;
}

/**
 * Handles the end of verifications (docs/verify.md), in the delivery side
 * that holds the connectors: once a verification is checked valid, fails
 * for too many wrong codes, or its lifetime passes, its cascade (if the code
 * goes by one) starts no further step, every code it sent by a connector that
 * can withdraw messages (Telegram Gateway: revokeVerificationMessage) and
 * that was not read is revoked, and an expired one is marked `expired`. What is due is data (`verifications.sweep_at`),
 * so an end is handled after a restart too. It runs on every node that
 * holds connectors (in a cluster, every worker: the one that leads the
 * scheduling may have none); each verification is taken by one node at a time
 * (`VerificationsRepository.claim`), and comes back due if that node dies.
 */
export class VerificationSweeper {
  readonly #db: Kysely<DB>;
  readonly #connector: (id: string) => Connector | undefined;
  readonly #log: Logger;
  readonly #pollMs: number;
  readonly #retryMs: number;
  readonly #giveUpMs: number;
  readonly #leaseMs: number;
  readonly #stopCascade: ((messageId: string) => Promise<unknown>) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | null = null;
  #stopped = true;

  constructor(db: Kysely<DB>, connector: (id: string) => Connector | undefined, log: Logger, options: VerificationSweeperOptions = {}) {
    this.#db = db;
    this.#connector = connector;
    this.#log = log;
    this.#pollMs = options.pollMs ?? 1000;
    this.#retryMs = options.retryMs ?? 30_000;
    this.#giveUpMs = options.giveUpMs ?? 3_600_000;
    this.#leaseMs = options.leaseMs ?? 60_000;
    this.#stopCascade = options.stopCascade;
  }

  start(): void {
    this.#stopped = false;
    const tick = () => {
      this.#running = this.sweepOnce()
        .catch((err: unknown) => this.#log.error({ err }, 'sweeping ended verifications failed'))
        .finally(() => {
          this.#running = null;
          if (!this.#stopped) this.#timer = setTimeout(tick, this.#pollMs);
        });
    };
    this.#timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (this.#running) await this.#running;
  }

  /** One round: every verification due now (at most 200); resolves with how many were handled. */
  async sweepOnce(now = Date.now()): Promise<number> {
    const due = await VerificationsRepository.due(this.#db, now, 200);
    let handled = 0;
    for (const seen of due) {
      // Every node with connectors sweeps: each verification is taken by one of them (a lease in sweep_at).
      const v = await VerificationsRepository.claim(this.#db, seen, now + this.#leaseMs);
      if (!v) continue;
      await this.#handle(v, now);
      handled++;
    }
    return handled;
  }

  async #handle(v: EndedVerification, now: number): Promise<void> {
    // The code is used up or dead: sending it by yet another channel would only cost money.
    await this.#stopCascade?.(v.message_id);
    const parts = await VerificationsRepository.revocableParts(this.#db, v);
    let failed = 0;
    const seen = new Set<string>();
    for (const p of parts) {
      const key = `${p.connector_id}\n${p.provider_message_id}`;
      if (seen.has(key)) continue; // the parts of one whole message share the id
      seen.add(key);
      const connector = this.#connector(p.connector_id);
      if (!connector?.revoke) continue;
      try {
        const revoked = await connector.revoke(p.provider_message_id);
        this.#log.info({ verification: v.id, connector: p.connector_id, revoked }, 'revoked the code of an ended verification');
      } catch (err) {
        failed++;
        this.#log.warn({ err, verification: v.id, connector: p.connector_id }, 'revoking a verification code failed; tried again later');
      }
    }
    const retry = failed > 0 && now < v.expires_at + this.#giveUpMs;
    await VerificationsRepository.swept(this.#db, v, now, retry ? now + this.#retryMs : undefined);
  }
}
