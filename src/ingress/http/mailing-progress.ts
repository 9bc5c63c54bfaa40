import type { LiveHub, LiveProgress } from '../../events/live.ts';
import type { Logger } from '../../log.ts';
import type { MailingRow, MailingsRepository } from '../../store/mailings.ts';
import { presentMailingStats } from './routes/mailings.ts';

export interface MailingProgressOptions {
  /** how often the running mailings are looked at, default 1000 ms */
  intervalMs?: number;
  /** running mailings of one account looked at per pass, default 100 */
  perAccount?: number;
}

/**
 * `mailing.progress` events for the live stream: while a stream that asked
 * for them is open (`types=mailing.progress`), once a second the statistics
 * of each running mailing of its account are read from the database, the
 * same query and the same body as `GET /v1/mailings/{id}/stats`, and a
 * stream gets them when they changed; a mailing that stopped running
 * (finished, paused, cancelled, waiting for its next run) gets one last event
 * with its new status. Read here, on the API side, rather than sent by the
 * runner: the runner works in the delivery thread or on the cluster's
 * leader, while the stream is held by whichever API node the client reached,
 * and the database is what they share. Nothing is read while no such stream
 * is open; one read per account serves all its streams; a pass that took
 * long (the counts of a mailing to a million) spaces the next out to four
 * times its length, so the feed never takes more than a fifth of the time.
 */
export class MailingProgressFeed {
  readonly #hub: LiveHub;
  readonly #mailings: MailingsRepository;
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #perAccount: number;
  /** per account, the mailings running at the last pass */
  readonly #watched = new Map<string, Set<string>>();
  #timer: NodeJS.Timeout | undefined;
  #pass: Promise<void> | null = null;
  #stopped = true;

  constructor(hub: LiveHub, mailings: MailingsRepository, log: Logger, options: MailingProgressOptions = {}) {
    this.#hub = hub;
    this.#mailings = mailings;
    this.#log = log;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#perAccount = options.perAccount ?? 100;
  }

  start(): void {
    this.#stopped = false;
    const loop = () => {
      if (this.#stopped) return;
      const began = Date.now();
      this.#pass = this.pass()
        .catch((err: unknown) => this.#log.error({ err }, 'reading mailing progress for the live stream failed'))
        .finally(() => {
          this.#pass = null;
          if (!this.#stopped) this.#timer = setTimeout(loop, Math.max(this.#intervalMs, 4 * (Date.now() - began))).unref();
        });
    };
    this.#timer = setTimeout(loop, this.#intervalMs).unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#pass;
  }

  /** One look at the running mailings of every account with a stream that asked for progress. */
  async pass(): Promise<void> {
    const accounts = this.#hub.progressAccounts();
    const wanted = new Set(accounts);
    for (const id of this.#watched.keys()) if (!wanted.has(id)) this.#watched.delete(id);
    for (const accountId of accounts) {
      const running = await this.#mailings.runningOf(accountId, this.#perAccount);
      const ids = new Set(running.map((m) => m.id));
      const items: LiveProgress[] = [];
      for (const m of running) items.push(await this.#progress(accountId, m, false));
      for (const id of this.#watched.get(accountId) ?? []) {
        if (ids.has(id)) continue;
        const m = await this.#mailings.get(accountId, id);
        if (m) items.push(await this.#progress(accountId, m, true));
      }
      this.#watched.set(accountId, ids);
      this.#hub.pushProgress(items);
    }
  }

  async #progress(accountId: string, m: MailingRow, final: boolean): Promise<LiveProgress> {
    const data = presentMailingStats(m, await this.#mailings.stats(accountId, m));
    const digest = JSON.stringify(data);
    const event = { type: 'mailing.progress', created_at: new Date().toISOString(), data };
    return { accountId, key: m.id, digest, text: `event: mailing.progress\ndata: ${JSON.stringify(event)}\n\n`, final };
  }
}
