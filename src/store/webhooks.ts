import type { Insertable, Kysely } from 'kysely';
import { idBoundsAt, newId } from '../domain/ids.ts';
import { PENDING_CONDITION } from './migrations/007-webhooks.ts';
import { GIVEN_UP_CALLBACK_CONDITION } from './migrations/042-callback-given-up.ts';
import type { DB, WebhookAttemptsTable, WebhookDeliveriesTable, WebhooksTable } from './schema.ts';
import type { SecretBox } from './secrets.ts';
import { inLists, insertChunks } from './shapes.ts';

export type WebhookRow = WebhooksTable;
export type DeliveryRow = WebhookDeliveriesTable;
export type AttemptRow = WebhookAttemptsTable;

/** A subscription with its secret opened, as the delivery thread holds it. */
export interface Subscription {
  id: string;
  accountId: string;
  url: string;
  eventTypes: ReadonlySet<string>;
  secret: string;
  enabled: boolean;
  failingSince: number | null;
}

export interface WebhookInput {
  url: string;
  eventTypes: string[];
  description: string | null;
  secret: string;
}

export type ReplaySelector = { eventId: string } | { since: number; until: number };

/** A webhook of one message's events, for the message's page. */
export interface MessageDelivery {
  id: string;
  webhook_id: string | null;
  callback_url: string | null;
  url: string;
  event_id: string;
  event_type: string;
  status: string;
  attempts: number;
  created_at: number;
  delivered_at: number | null;
}

/** A message's `callback_url` delivery that was given up. */
export interface GivenUpCallback {
  id: string;
  url: string;
  message_id: string;
  event_id: string;
  event_type: string;
  attempts: number;
  created_at: number;
}

/**
 * Webhook subscriptions and their delivery log, for the account that owns
 * them: every method takes the account id, and another account's ids are not
 * found. Secrets are sealed on the way in.
 */
export class WebhooksRepository {
  readonly #db: Kysely<DB>;
  readonly #box: SecretBox;

  constructor(db: Kysely<DB>, box: SecretBox) {
    this.#db = db;
    this.#box = box;
  }

  async create(accountId: string, input: WebhookInput, now = Date.now()): Promise<WebhookRow> {
    const row: WebhookRow = {
      id: newId('whk', now),
      account_id: accountId,
      url: input.url,
      description: input.description,
      event_types: JSON.stringify(input.eventTypes),
      secret_sealed: this.#box.seal(input.secret),
      enabled: 1,
      disabled_reason: null,
      disabled_at: null,
      failing_since: null,
      created_at: now,
      updated_at: now,
    };
    await this.#db.insertInto('webhooks').values(row).execute();
    return row;
  }

  async get(accountId: string, id: string): Promise<WebhookRow | undefined> {
    return this.#db.selectFrom('webhooks').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  }

  /** Newest first; one more row than asked tells the caller whether there is a next page. */
  async list(accountId: string, page: { beforeId?: string | undefined; limit: number }): Promise<WebhookRow[]> {
    let q = this.#db.selectFrom('webhooks').selectAll().where('account_id', '=', accountId);
    if (page.beforeId !== undefined) q = q.where('id', '<', page.beforeId);
    return q.orderBy('id', 'desc').limit(page.limit).execute();
  }

  /** Changes url, event types, description or enabled; disabling by the account clears a gateway's reason. */
  async update(accountId: string, id: string, patch: { url?: string | undefined; eventTypes?: string[] | undefined; description?: string | null | undefined; enabled?: boolean | undefined }, now = Date.now()): Promise<WebhookRow | undefined> {
    const set: Partial<WebhookRow> = { updated_at: now };
    if (patch.url !== undefined) set.url = patch.url;
    if (patch.eventTypes !== undefined) set.event_types = JSON.stringify(patch.eventTypes);
    if (patch.description !== undefined) set.description = patch.description;
    if (patch.enabled === true) return this.enable(accountId, id, now, set);
    if (patch.enabled === false) Object.assign(set, { enabled: 0, disabled_reason: null, disabled_at: now });
    const result = await this.#db.updateTable('webhooks').set(set).where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
    return Number(result.numUpdatedRows) === 1 ? this.get(accountId, id) : undefined;
  }

  /** Enabled again: its failure record cleared, and what waits for it due at once. */
  async enable(accountId: string, id: string, now = Date.now(), extra: Partial<WebhookRow> = {}): Promise<WebhookRow | undefined> {
    return this.#db.transaction().execute(async (tx) => {
      const result = await tx
        .updateTable('webhooks')
        .set({ ...extra, enabled: 1, disabled_reason: null, disabled_at: null, failing_since: null, updated_at: now })
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) return undefined;
      await tx.updateTable('webhook_deliveries').set({ next_attempt_at: now }).where(PENDING_CONDITION).where('webhook_id', '=', id).where('account_id', '=', accountId).execute();
      return tx.selectFrom('webhooks').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
    });
  }

  /** Removes the subscription, what waits for it and its log. */
  async delete(accountId: string, id: string): Promise<boolean> {
    return this.#db.transaction().execute(async (tx) => {
      const result = await tx.deleteFrom('webhooks').where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
      if (Number(result.numDeletedRows) !== 1) return false;
      await tx.deleteFrom('webhook_deliveries').where('account_id', '=', accountId).where('webhook_id', '=', id).execute();
      await tx.deleteFrom('webhook_attempts').where('account_id', '=', accountId).where('webhook_id', '=', id).execute();
      return true;
    });
  }

  async pendingCount(accountId: string, webhookId: string): Promise<number> {
    const row = await this.#db
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('account_id', '=', accountId)
      .where('webhook_id', '=', webhookId)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /**
   * The webhooks of one message's events, oldest first: its events (by
   * message), the account's subscriptions' deliveries of them (the
   * (webhook_id, event_id) index), and the message's own callback_url
   * deliveries still pending (the chain index) or given up (the given-up
   * index; delivered ones are in no index by message, so they are not listed).
   */
  async deliveriesOfMessage(accountId: string, messageId: string): Promise<MessageDelivery[]> {
    const events = await this.#db.selectFrom('message_events').select('id').where('account_id', '=', accountId).where('message_id', '=', messageId).execute();
    const hooks = await this.#db.selectFrom('webhooks').select(['id', 'url']).where('account_id', '=', accountId).execute();
    const columns = ['id', 'webhook_id', 'callback_url', 'event_id', 'event_type', 'status', 'attempts', 'created_at', 'delivered_at'] as const;
    const subscribed =
      events.length === 0 || hooks.length === 0
        ? []
        : await this.#db
            .selectFrom('webhook_deliveries')
            .select(columns)
            .where('account_id', '=', accountId)
            .where('webhook_id', 'in', hooks.map((h) => h.id))
            .where('event_id', 'in', events.map((e) => e.id))
            .execute();
    const callbacks = await this.#db
      .selectFrom('webhook_deliveries')
      .select(columns)
      .where('order_key', '=', messageId)
      .where('status', '=', 'pending')
      .where('account_id', '=', accountId)
      .where('webhook_id', 'is', null)
      .execute();
    const givenUp = await this.#db
      .selectFrom('webhook_deliveries')
      .select(columns)
      .where('account_id', '=', accountId)
      .where('order_key', '=', messageId)
      .where(GIVEN_UP_CALLBACK_CONDITION)
      .execute();
    const urls = new Map(hooks.map((h) => [h.id, h.url]));
    return [...subscribed, ...callbacks, ...givenUp]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((d) => ({ ...d, url: d.webhook_id === null ? (d.callback_url ?? '') : (urls.get(d.webhook_id) ?? '') }));
  }

  /**
   * The account's `callback_url` deliveries that were given up, newest first
   * (the given-up index); one more row than asked tells the caller whether
   * there is a next page.
   */
  async givenUpCallbacks(accountId: string, page: { beforeId?: string | undefined; limit: number }): Promise<GivenUpCallback[]> {
    let q = this.#db
      .selectFrom('webhook_deliveries')
      .select(['id', 'callback_url', 'order_key', 'event_id', 'event_type', 'attempts', 'created_at'])
      .where('account_id', '=', accountId)
      .where(GIVEN_UP_CALLBACK_CONDITION);
    if (page.beforeId !== undefined) q = q.where('id', '<', page.beforeId);
    const rows = await q.orderBy('id', 'desc').limit(page.limit).execute();
    return rows.map((r) => ({ id: r.id, url: r.callback_url ?? '', message_id: r.order_key, event_id: r.event_id, event_type: r.event_type, attempts: r.attempts, created_at: r.created_at }));
  }

  /** The delivery log, newest first. */
  async attempts(accountId: string, webhookId: string, f: { succeeded?: boolean | undefined; beforeId?: string | undefined; limit: number }): Promise<AttemptRow[]> {
    let q = this.#db.selectFrom('webhook_attempts').selectAll().where('account_id', '=', accountId).where('webhook_id', '=', webhookId);
    if (f.succeeded !== undefined) q = q.where('succeeded', '=', f.succeeded ? 1 : 0);
    if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
    return q.orderBy('id', 'desc').limit(f.limit).execute();
  }

  /**
   * Sends events again: the subscription's deliveries of one event, or of the
   * events created in a period, become pending and due now (delivered ones
   * included). Returns how many.
   */
  async replay(accountId: string, webhookId: string, selector: ReplaySelector, now = Date.now()): Promise<number> {
    let q = this.#db
      .updateTable('webhook_deliveries')
      .set({ status: 'pending', next_attempt_at: now, lease_until: null })
      .where('account_id', '=', accountId)
      .where('webhook_id', '=', webhookId);
    if ('eventId' in selector) q = q.where('event_id', '=', selector.eventId);
    else q = q.where('id', '>=', idBoundsAt('whd', selector.since).lowest).where('id', '<=', idBoundsAt('whd', selector.until).highest);
    const result = await q.executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** The account's secret for `callback_url` deliveries, made on first use. */
  async callbackSecret(accountId: string, make: () => string, now = Date.now()): Promise<string> {
    return openOrMakeCallbackSecret(this.#db, this.#box, accountId, make, now);
  }

  /** The secret of a subscription, opened. */
  openSecret(row: WebhookRow): string {
    return this.#box.open(row.secret_sealed);
  }
}

/** Reads the account's callback secret, or stores a new one (the first writer wins). */
export async function openOrMakeCallbackSecret(db: Kysely<DB>, box: SecretBox, accountId: string, make: () => string, now = Date.now()): Promise<string> {
  const existing = await db.selectFrom('webhook_account_secrets').select('secret_sealed').where('account_id', '=', accountId).executeTakeFirst();
  if (existing) return box.open(existing.secret_sealed);
  await db
    .insertInto('webhook_account_secrets')
    .values({ account_id: accountId, secret_sealed: box.seal(make()), created_at: now })
    .onConflict((oc) => oc.column('account_id').doNothing())
    .execute();
  const row = await db.selectFrom('webhook_account_secrets').select('secret_sealed').where('account_id', '=', accountId).executeTakeFirstOrThrow();
  return box.open(row.secret_sealed);
}

/**
 * The outbox as the delivery thread uses it. These act across accounts by
 * design (the sender serves every account); nothing here answers a tenant's
 * request.
 */
export const WebhookOutbox = {
  /** Every subscription that can receive events, secrets opened. */
  async subscriptions(db: Kysely<DB>, box: SecretBox): Promise<Subscription[]> {
    const rows = await db.selectFrom('webhooks').selectAll().orderBy('id').execute();
    return rows.map((r) => ({
      id: r.id,
      accountId: r.account_id,
      url: r.url,
      eventTypes: new Set(JSON.parse(r.event_types) as string[]),
      secret: box.open(r.secret_sealed),
      enabled: r.enabled === 1,
      failingSince: r.failing_since,
    }));
  },

  async insert(tx: Kysely<DB>, rows: Insertable<WebhookDeliveriesTable>[]): Promise<void> {
    await insertChunks(tx, 'webhook_deliveries', rows);
  },

  /** The endpoints that have pending deliveries (read once at start; the outbox reports new ones). */
  async pendingEndpoints(db: Kysely<DB>): Promise<string[]> {
    const rows = await db.selectFrom('webhook_deliveries').select('endpoint').distinct().where(PENDING_CONDITION).execute();
    return rows.map((r) => r.endpoint);
  },

  /** One endpoint's pending deliveries that are due, oldest due first. */
  async dueFor(db: Kysely<DB>, endpoint: string, now: number, limit: number): Promise<DeliveryRow[]> {
    return db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where(PENDING_CONDITION)
      .where('endpoint', '=', endpoint)
      .where('next_attempt_at', '<=', now)
      .orderBy('next_attempt_at')
      .orderBy('id')
      .limit(limit)
      .execute();
  },

  /** These deliveries, those still pending, due and not leased, oldest first. */
  async pendingByIds(db: Kysely<DB>, ids: readonly string[], now: number): Promise<DeliveryRow[]> {
    const out: DeliveryRow[] = [];
    for (const list of inLists(ids)) {
      out.push(...(await db.selectFrom('webhook_deliveries').selectAll().where('id', 'in', list).where(PENDING_CONDITION).where('lease_until', 'is', null).where('next_attempt_at', '<=', now).execute()));
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : 1));
  },

  async hasPending(db: Kysely<DB>, endpoint: string): Promise<boolean> {
    return (await db.selectFrom('webhook_deliveries').select('id').where(PENDING_CONDITION).where('endpoint', '=', endpoint).limit(1).executeTakeFirst()) !== undefined;
  },

  /** How many deliveries of one endpoint are pending, leased or not. */
  async pendingCount(db: Kysely<DB>, endpoint: string): Promise<number> {
    const row = await db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where(PENDING_CONDITION).where('endpoint', '=', endpoint).executeTakeFirst();
    return Number(row?.n ?? 0);
  },

  /** Hands back leased deliveries that were not attempted (their endpoint was paused first): pending and due, attempts unchanged. */
  async release(tx: Kysely<DB>, rows: readonly DeliveryRow[], now: number): Promise<void> {
    for (const row of rows) {
      await tx.updateTable('webhook_deliveries').set({ lease_until: null, next_attempt_at: now }).where('id', '=', row.id).where('lease_until', '=', row.lease_until!).execute();
    }
  },

  /** The pending deliveries of these chains (order keys), to find each chain's first. */
  async chains(db: Kysely<DB>, orderKeys: readonly string[]): Promise<Pick<DeliveryRow, 'id' | 'endpoint' | 'order_key' | 'next_attempt_at' | 'lease_until'>[]> {
    const out: Pick<DeliveryRow, 'id' | 'endpoint' | 'order_key' | 'next_attempt_at' | 'lease_until'>[] = [];
    for (const keys of inLists(orderKeys)) {
      out.push(...(await db.selectFrom('webhook_deliveries').select(['id', 'endpoint', 'order_key', 'next_attempt_at', 'lease_until']).where(PENDING_CONDITION).where('order_key', 'in', keys).execute()));
    }
    return out;
  },

  /** Takes deliveries for sending until `until` (a crash leaves them leased; `recover` frees them). */
  async lease(tx: Kysely<DB>, ids: readonly string[], until: number): Promise<void> {
    for (const list of inLists(ids)) await tx.updateTable('webhook_deliveries').set({ lease_until: until, next_attempt_at: until }).where('id', 'in', list).where(PENDING_CONDITION).execute();
  },

  /**
   * Deliveries waiting behind an earlier one of their chain: not due before it
   * is, as long as it is still pending. On PostgreSQL the predecessor's row is
   * locked first, so a success committing meanwhile (which makes its chain due
   * at once) is seen rather than overwritten. Returns how many waits found
   * their predecessor finished already (those deliveries may go now).
   */
  async defer(tx: Kysely<DB>, dialect: 'sqlite' | 'postgres', waits: readonly { headId: string; at: number; ids: string[] }[]): Promise<number> {
    if (waits.length === 0) return 0;
    const pending = new Set<string>();
    for (const list of inLists([...new Set(waits.map((w) => w.headId))])) {
      let q = tx.selectFrom('webhook_deliveries').select('id').where('id', 'in', list).where(PENDING_CONDITION);
      if (dialect === 'postgres') q = q.forUpdate();
      for (const r of await q.execute()) pending.add(r.id);
    }
    const byAt = new Map<number, string[]>();
    for (const w of waits) if (pending.has(w.headId)) byAt.set(w.at, [...(byAt.get(w.at) ?? []), ...w.ids]);
    for (const [at, ids] of byAt) {
      for (const list of inLists(ids)) await tx.updateTable('webhook_deliveries').set({ next_attempt_at: at }).where('id', 'in', list).where(PENDING_CONDITION).where('next_attempt_at', '<', at).execute();
    }
    return waits.filter((w) => !pending.has(w.headId)).length;
  },

  // Outcomes apply only while the row still holds the lease it was sent under: a replay meanwhile
  // (pending again, lease cleared) must not be overwritten by the older send's result.

  /** Returns how many later deliveries of its chain became due by it. */
  async delivered(tx: Kysely<DB>, row: DeliveryRow, now: number): Promise<number> {
    await tx
      .updateTable('webhook_deliveries')
      .set({ status: 'delivered', delivered_at: now, lease_until: null, attempts: row.attempts + 1 })
      .where('id', '=', row.id)
      .where('lease_until', '=', row.lease_until!)
      .execute();
    return WebhookOutbox.followersDue(tx, row, now);
  },

  /** The next of the chain of a delivery that finished may go now; returns how many became due. */
  async followersDue(tx: Kysely<DB>, row: DeliveryRow, now: number): Promise<number> {
    const followers = await tx
      .updateTable('webhook_deliveries')
      .set({ next_attempt_at: now })
      .where(PENDING_CONDITION)
      .where('order_key', '=', row.order_key)
      .where('endpoint', '=', row.endpoint)
      .where('lease_until', 'is', null)
      .where('next_attempt_at', '>', now)
      .executeTakeFirst();
    return Number(followers.numUpdatedRows);
  },

  /**
   * Many successes at once (the answers of one event-loop turn): their log
   * entries, each delivery marked delivered while it still holds its lease,
   * and the next of each chain due now. Returns how many followers became due.
   */
  async deliveredMany(tx: Kysely<DB>, rows: readonly DeliveryRow[], attempts: AttemptRow[], now: number): Promise<number> {
    await WebhookOutbox.logAttempts(tx, attempts);
    const byLease = new Map<number, string[]>();
    for (const r of rows) byLease.set(r.lease_until!, [...(byLease.get(r.lease_until!) ?? []), r.id]);
    for (const [lease, ids] of byLease) {
      for (const list of inLists(ids)) {
        await tx
          .updateTable('webhook_deliveries')
          .set((eb) => ({ status: 'delivered', delivered_at: now, lease_until: null, attempts: eb('attempts', '+', 1) }))
          .where('id', 'in', list)
          .where('lease_until', '=', lease)
          .execute();
      }
    }
    const byEndpoint = new Map<string, Set<string>>();
    for (const r of rows) byEndpoint.set(r.endpoint, (byEndpoint.get(r.endpoint) ?? new Set()).add(r.order_key));
    let followers = 0;
    for (const [endpoint, keys] of byEndpoint) {
      for (const list of inLists([...keys])) {
        const result = await tx
          .updateTable('webhook_deliveries')
          .set({ next_attempt_at: now })
          .where(PENDING_CONDITION)
          .where('endpoint', '=', endpoint)
          .where('order_key', 'in', list)
          .where('lease_until', 'is', null)
          .where('next_attempt_at', '>', now)
          .executeTakeFirst();
        followers += Number(result.numUpdatedRows);
      }
    }
    return followers;
  },

  async retryAt(tx: Kysely<DB>, row: DeliveryRow, at: number): Promise<void> {
    await tx
      .updateTable('webhook_deliveries')
      .set({ next_attempt_at: at, lease_until: null, attempts: row.attempts + 1 })
      .where('id', '=', row.id)
      .where('lease_until', '=', row.lease_until!)
      .execute();
  },

  /** Marks the delivery failed for good; returns how many later deliveries of its chain became due by it (they no longer wait for it). */
  async giveUp(tx: Kysely<DB>, row: DeliveryRow, now: number): Promise<number> {
    const result = await tx.updateTable('webhook_deliveries').set({ status: 'failed', lease_until: null, attempts: row.attempts + 1 }).where('id', '=', row.id).where('lease_until', '=', row.lease_until!).executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) return 0;
    return WebhookOutbox.followersDue(tx, row, now);
  },

  /** Whether the subscription's log has a successful attempt since `since` (the log's (webhook_id, id) index). */
  async succeededSince(db: Kysely<DB>, webhookId: string, since: number): Promise<boolean> {
    const row = await db.selectFrom('webhook_attempts').select('id').where('webhook_id', '=', webhookId).where('id', '>', idBoundsAt('wha', since).lowest).where('succeeded', '=', 1).limit(1).executeTakeFirst();
    return row !== undefined;
  },

  async logAttempts(tx: Kysely<DB>, rows: AttemptRow[]): Promise<void> {
    await insertChunks(tx, 'webhook_attempts', rows);
  },

  async setFailing(tx: Kysely<DB>, webhookId: string, since: number | null): Promise<void> {
    await tx.updateTable('webhooks').set({ failing_since: since }).where('id', '=', webhookId).execute();
  },

  async disable(tx: Kysely<DB>, webhookId: string, reason: string, now: number): Promise<void> {
    await tx.updateTable('webhooks').set({ enabled: 0, disabled_reason: reason, disabled_at: now, updated_at: now }).where('id', '=', webhookId).execute();
  },

  /**
   * Removes up to `limit` finished deliveries (delivered, given up) made before
   * `before`, and as many log rows; returns how many rows went. Pending ones
   * are kept whatever their age.
   */
  async purge(tx: Kysely<DB>, before: number, limit: number): Promise<number> {
    const deliveries = await tx
      .deleteFrom('webhook_deliveries')
      .where('id', 'in', (eb) => eb.selectFrom('webhook_deliveries').select('id').where('id', '<', idBoundsAt('whd', before).lowest).where('status', '<>', 'pending').limit(limit))
      .executeTakeFirst();
    const attempts = await tx
      .deleteFrom('webhook_attempts')
      .where('id', 'in', (eb) => eb.selectFrom('webhook_attempts').select('id').where('id', '<', idBoundsAt('wha', before).lowest).limit(limit))
      .executeTakeFirst();
    return Number(deliveries.numDeletedRows) + Number(attempts.numDeletedRows);
  },

  /** At start: what the last run had in flight is due at once (it may have been sent; at least once). */
  async recover(db: Kysely<DB>, now: number): Promise<number> {
    const result = await db.updateTable('webhook_deliveries').set({ lease_until: null, next_attempt_at: now }).where(PENDING_CONDITION).where('lease_until', 'is not', null).executeTakeFirst();
    return Number(result.numUpdatedRows);
  },
};
