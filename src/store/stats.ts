import { sql, type Kysely } from 'kysely';
import { idBoundsAt } from '../domain/ids.ts';
import type { DB } from './schema.ts';

/** One minute of an account's traffic, for the dashboard's live charts. */
export interface MinuteStats {
  /** epoch ms at the start of the minute */
  minute: number;
  /** messages created in the minute */
  accepted: number;
  /** of those, handed to a provider */
  sent: number;
  /** of those, delivered (or read) */
  delivered: number;
  /** mean ms from accepting to the provider's acceptance, of the sent ones; null: none sent */
  submit_latency_ms: number | null;
  /** mean ms from sending to the delivery receipt, of the delivered ones; null: none delivered */
  delivery_latency_ms: number | null;
}

/** Counts for the cabinet's dashboard. */
export class StatsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  #period(accountId: string, since: number, until: number) {
    return this.#db
      .selectFrom('messages')
      .where('account_id', '=', accountId)
      .where('id', '>=', idBoundsAt('msg', since).lowest)
      .where('id', '<=', idBoundsAt('msg', until).highest);
  }

  /** The account's messages made in [since, until], by status: a range on the primary key, as History's period filter. */
  async messagesByStatus(accountId: string, since: number, until: number): Promise<Record<string, number>> {
    const rows = await this.#period(accountId, since, until)
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  /** The same period's messages by channel and by the recipient's operator (`unknown` where the registry did not cover the number). */
  async messagesByChannelAndOperator(accountId: string, since: number, until: number): Promise<{ byChannel: Record<string, number>; byOperator: Record<string, number> }> {
    const rows = await this.#period(accountId, since, until)
      .select(['channel', 'operator', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy(['channel', 'operator'])
      .execute();
    const byChannel: Record<string, number> = {};
    const byOperator: Record<string, number> = {};
    for (const r of rows) {
      byChannel[r.channel] = (byChannel[r.channel] ?? 0) + Number(r.n);
      const op = r.operator ?? 'unknown';
      byOperator[op] = (byOperator[op] ?? 0) + Number(r.n);
    }
    return { byChannel, byOperator };
  }

  /** Per-minute counts and mean latencies of the messages made in [since, until]; minutes without messages are left out. */
  async perMinute(accountId: string, since: number, until: number): Promise<MinuteStats[]> {
    // Integer division on both SQLite and PostgreSQL (the columns are integers).
    const minute = sql<number>`created_at / 60000`;
    const rows = await this.#period(accountId, since, until)
      .select([
        minute.as('minute'),
        (eb) => eb.fn.countAll<number>().as('accepted'),
        (eb) => eb.fn.count<number>('sent_at').as('sent'),
        (eb) => eb.fn.count<number>('delivered_at').as('delivered'),
        sql<number | null>`avg(sent_at - created_at)`.as('submit_latency'),
        sql<number | null>`avg(delivered_at - sent_at)`.as('delivery_latency'),
      ])
      .groupBy(minute)
      .orderBy(minute)
      .execute();
    const ms = (v: number | string | null) => (v === null ? null : Math.round(Number(v)));
    return rows.map((r) => ({
      minute: Number(r.minute) * 60_000,
      accepted: Number(r.accepted),
      sent: Number(r.sent),
      delivered: Number(r.delivered),
      submit_latency_ms: ms(r.submit_latency),
      delivery_latency_ms: ms(r.delivery_latency),
    }));
  }
}
