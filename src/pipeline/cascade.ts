import type { Kysely } from 'kysely';
import type { Channel, TemplateRef } from '../connectors/channels.ts';
import { newId } from '../domain/ids.ts';
import { isReasonCode, type FailureReason } from '../domain/reasons.ts';
import type { MessageStatus } from '../domain/statuses.ts';
import { ApiError } from '../errors.ts';
import type { EventBus, StatusChange } from '../events/bus.ts';
import type { EventOutbox, OutboxMessageEvent } from '../events/webhooks/outbox.ts';
import type { Logger } from '../log.ts';
import type { Account } from '../store/accounts.ts';
import { formatMoney, reserveInTx } from '../store/balance.ts';
import { CascadesRepository, lastStep, PARENT_DUE_AT, parseSteps, type CascadeRow, type CascadeStepSpec, type CascadeUntil } from '../store/cascades.ts';
import type { InboundMessageRow } from '../store/inbound.ts';
import { MessagesRepository, type MessageRow } from '../store/messages.ts';
import type { DB } from '../store/schema.ts';
import { inLists } from '../store/shapes.ts';
import type { WriteBatcher } from '../store/write-batcher.ts';
import { prepareMessage, type AcceptContext, type SendRequest } from './accept.ts';
import type { Dispatcher } from './dispatcher.ts';
import { cancelUnsent } from './cancel.ts';
import { insertEvents, markRead, type EventInput } from './transitions.ts';
import { quietHoursRelease } from './policy.ts';

/**
 * Cascade fallback (docs/api.md#cascade): one parent message, sent as child
 * messages one channel after another. A step ends its cascade when its
 * message reaches the step's condition (`delivered` or `read`); the next step
 * starts at once when the step's message fails for good, or when the step's
 * timeout passes first. The parent's final status is that of the step that
 * decided it, and its `channel` and `connector` say which one.
 *
 * Every decision is made inside the transaction that records the change it
 * reacts to (the engine is part of the event outbox), and a step's timeout is
 * a row (`cascades.timer_at`): a crash at any point leaves either the change
 * and its consequence or neither, and the timer is found again after a restart.
 * Each move checks the step it moves from (`WHERE step = ?`), so a decision
 * is taken once even when two nodes race for it.
 */

// ---------------------------------------------------------------- the request

/** One step as a client writes it. */
export interface CascadeStepRequest {
  channel: Channel;
  /** the connector the step must go by; default: the route of the channel */
  connector?: string | undefined;
  until?: CascadeUntil | undefined;
  /** required on every step but the last */
  timeout_seconds?: number | undefined;
  to?: string | undefined;
  from?: string | undefined;
  text?: string | undefined;
  subject?: string | undefined;
  html?: string | undefined;
  template?: TemplateRef | undefined;
}

export const MAX_CASCADE_STEPS = 8;

export type PreparedCascade = { ok: true; parent: MessageRow; first: MessageRow; cascade: CascadeRow } | { ok: false; error: ApiError };

/**
 * Checks a cascade request and prepares what accept stores: the parent (never
 * sent itself), the first step's message and the cascade row. Each step is
 * checked as a message of its channel (errors name `cascade.N.…`); the
 * top-level `text`, `to` and `from` are every step's defaults.
 */
export function prepareCascade(
  account: Account,
  req: SendRequest,
  now: number,
  batchId: string | null,
  context: AcceptContext,
  fieldPrefix = '',
  connectorExists?: (id: string) => boolean,
): PreparedCascade {
  const steps = req.cascade ?? [];
  const field = (name: string) => fieldPrefix + name;
  const invalid = (name: string, issue: string) => ({ ok: false as const, error: new ApiError('cascade_invalid', `${name} ${issue}`, [{ field: field(name), issue }]) });
  if (steps.length === 0 || steps.length > MAX_CASCADE_STEPS) return invalid('cascade', `must have 1 to ${MAX_CASCADE_STEPS} steps`);
  if (req.channel !== undefined) return invalid('channel', 'is given on each cascade step, not beside `cascade`');
  for (const name of ['subject', 'html', 'template'] as const) if (req[name] !== undefined) return invalid(name, 'is given on the cascade step that needs it, not beside `cascade`');
  const prepared: PreparedStep[] = [];
  for (const [i, s] of steps.entries()) {
    const last = i === steps.length - 1;
    if (!last && s.timeout_seconds === undefined) return invalid(`cascade.${i}.timeout_seconds`, 'is required on every step but the last');
    if (s.connector !== undefined && connectorExists && !connectorExists(s.connector)) {
      const issue = `names no connector (GET /v1/connectors lists them)`;
      return { ok: false, error: new ApiError('unknown_connector', `cascade step ${i}: connector ${s.connector} does not exist`, [{ field: field(`cascade.${i}.connector`), issue }]) };
    }
    const stepReq: SendRequest = {
      ...req,
      cascade: undefined,
      channel: s.channel,
      to: s.to ?? req.to,
      text: s.text ?? req.text,
      from: s.from ?? req.from,
      subject: s.subject,
      html: s.html,
      template: s.template,
    };
    const p = prepareMessage(account, stepReq, now, null, context, `${fieldPrefix}cascade.${i}.`);
    if (!p.ok) return p;
    prepared.push({ row: p.row, until: s.until ?? 'delivered', timeout_seconds: last ? null : s.timeout_seconds!, connector: s.connector ?? null });
  }
  return { ok: true, ...cascadeOf(account.id, prepared, now, batchId) };
}

/** One step whose message is prepared (and checked) already: what `cascadeOf` builds a cascade from. */
export interface PreparedStep {
  row: MessageRow;
  until: CascadeUntil;
  /** null on the last step */
  timeout_seconds: number | null;
  connector: string | null;
  /** the recipient's time zone, when the caller resolved it (the mailing runner): kept in the step for its quiet hours */
  time_zone?: string | undefined;
}

/**
 * The parent (never sent, free), the first step's message (due when the
 * first step's row was: its `send_at` or quiet hours) and the cascade row,
 * from steps already prepared by `prepareMessage` (the API's cascades, and a
 * mailing's per-contact channel order).
 */
export function cascadeOf(accountId: string, steps: readonly PreparedStep[], now: number, batchId: string | null): { parent: MessageRow; first: MessageRow; cascade: CascadeRow } {
  const specs: CascadeStepSpec[] = steps.map(({ row: r, until, timeout_seconds, connector, time_zone }) => ({
    channel: r.channel,
    until,
    timeout_seconds,
    connector,
    ...(time_zone ? { time_zone } : {}),
    message: {
      channel: r.channel,
      recipient: r.recipient,
      sender: r.sender,
      body: r.body,
      encoding: r.encoding,
      characters: r.characters,
      parts_count: r.parts_count,
      operator: r.operator,
      region: r.region,
      content: r.content ?? null,
      ...(r.price_minor ? { price_minor: r.price_minor } : {}),
      ...(r.template_id ? { template_id: r.template_id } : {}),
    },
  }));
  const head = steps[0]!.row;
  const parentId = newId('msg', now);
  const waits = specs.reduce((sum, s) => sum + (s.timeout_seconds ?? 0), 0) * 1000;
  const parent: MessageRow = { ...head, id: parentId, batch_id: batchId, due_at: PARENT_DUE_AT, expires_at: head.expires_at + waits, parent_id: null, cascade_step: 0 };
  // The parent is never sent: it costs nothing (only its steps are reserved and charged).
  delete parent.price_minor;
  delete parent.template_id;
  const child: MessageRow = { ...head, parent_id: parentId, cascade_step: 1, connector_id: specs[0]!.connector };
  const timeout = specs[0]!.timeout_seconds;
  const cascade: CascadeRow = {
    id: parentId,
    account_id: accountId,
    steps: JSON.stringify(specs),
    step: 1,
    child_id: child.id,
    status: 'running',
    timer_at: timeout === null ? null : child.due_at + timeout * 1000,
    decided_step: null,
    created_at: now,
    updated_at: now,
  };
  return { parent, first: child, cascade };
}

// ---------------------------------------------------------------- decisions

const FAILED: ReadonlySet<string> = new Set(['undelivered', 'failed', 'expired', 'rejected', 'cancelled']);

/** Whether a step's message in this status meets the step's condition. */
export function conditionMet(until: CascadeUntil, status: string): boolean {
  return until === 'read' ? status === 'read' : status === 'delivered' || status === 'read';
}

/** What the cascade does about one change. */
export type CascadeAction =
  | { kind: 'none' }
  /** the parent moves on to this status (a step's message was taken or sent) */
  | { kind: 'progress'; status: 'queued' | 'sent' }
  /** the parent ends with the status and reason of this step's message; the cascade is done */
  | { kind: 'finish'; step: number }
  /** the next step starts; `stop`: the step whose unsent message is withdrawn */
  | { kind: 'advance'; to: number; stop: number | null }
  /** the message of the step that delivered the parent was read: so is the parent */
  | { kind: 'read' };

interface State {
  status: string;
  step: number;
  decided_step: number | null;
}

/** A change of the message of step `k` (1-based). */
export function decideOnChild(state: State, steps: readonly Pick<CascadeStepSpec, 'until' | 'dropped'>[], k: number, status: string, reason: string | null): CascadeAction {
  if (state.status !== 'running') return status === 'read' && state.decided_step === k ? { kind: 'read' } : { kind: 'none' };
  if (status === 'queued') return { kind: 'progress', status: 'queued' };
  if (status === 'sent') return { kind: 'progress', status: 'sent' };
  if (status === 'delivered' || status === 'read') {
    // The last step has nothing to fall back to; an earlier step that got there late still ends the cascade.
    if (k === lastStep(steps) || conditionMet(steps[k - 1]!.until, status)) return { kind: 'finish', step: k };
    return { kind: 'progress', status: 'sent' };
  }
  if (!FAILED.has(status)) return { kind: 'none' };
  // A SIM swap or fraud block: no code may go to this number by any channel now.
  if (reason === 'security_block') return { kind: 'finish', step: k };
  if (k !== state.step) return { kind: 'none' }; // an earlier step's message, after the cascade moved on: recorded on it only
  if (k >= lastStep(steps)) return { kind: 'finish', step: k };
  return { kind: 'advance', to: k + 1, stop: null };
}

/** The running step's timeout passed; `status` is its message's. */
export function decideOnTimer(state: State, steps: readonly Pick<CascadeStepSpec, 'until' | 'dropped'>[], status: string): CascadeAction {
  if (state.status !== 'running' || state.step >= lastStep(steps)) return { kind: 'none' };
  if (conditionMet(steps[state.step - 1]!.until, status)) return { kind: 'finish', step: state.step };
  return { kind: 'advance', to: state.step + 1, stop: FAILED.has(status) ? null : state.step };
}

// ---------------------------------------------------------------- the engine

export interface CascadeEngineOptions {
  /** how often timers due soon are read from the store, default 250 ms */
  pollMs?: number | undefined;
}

/** What one unit of work did, for after its commit. */
interface Effects {
  dispatch: string[];
  timers: { id: string; at: number }[];
  changes: StatusChange[];
}

/** How far ahead a timer is held in memory; later ones are read from the store when they come near. */
const HORIZON_MS = 60_000;

/**
 * Runs cascades in the delivery thread. `onEvents` is called by the event
 * outbox inside the transaction of every batch of status changes; timers
 * fire from memory (armed after the commit that set them) and, as a net for
 * restarts and lost arms, from a poll of the due index.
 */
export class CascadeEngine {
  readonly #db: Kysely<DB>;
  readonly #batcher: WriteBatcher;
  readonly #bus: EventBus;
  readonly #log: Logger;
  readonly #pollMs: number;
  readonly #repo: CascadesRepository;
  #dispatcher: Dispatcher | undefined;
  #outbox: EventOutbox | undefined;
  readonly #timers = new Map<string, { at: number; handle: NodeJS.Timeout }>();
  #poll: NodeJS.Timeout | undefined;
  #polling: Promise<void> | null = null;
  #stopped = false;
  #firing = new Set<Promise<unknown>>();

  constructor(db: Kysely<DB>, batcher: WriteBatcher, bus: EventBus, log: Logger, options: CascadeEngineOptions = {}) {
    this.#db = db;
    this.#batcher = batcher;
    this.#bus = bus;
    this.#log = log;
    this.#pollMs = options.pollMs ?? 250;
    this.#repo = new CascadesRepository(db);
  }

  /** Where new step messages go once committed, and the outbox their events are written through. */
  wire(dispatcher: Dispatcher, outbox: EventOutbox): void {
    this.#dispatcher = dispatcher;
    this.#outbox = outbox;
  }

  /** Wraps an outbox: every batch of events is shown to the engine in the same transaction, after the webhooks. */
  outbox(inner: EventOutbox): EventOutbox {
    return {
      messageEvents: async (tx, events) => {
        await inner.messageEvents(tx, events);
        await this.onEvents(tx, events);
      },
      inboundMessage: (tx: Kysely<DB>, row: InboundMessageRow) => inner.inboundMessage(tx, row),
    };
  }

  start(): void {
    this.#stopped = false;
    const tick = () => {
      this.#polling = this.pollOnce()
        .then(() => undefined)
        .catch((err: unknown) => this.#log.error({ err }, 'reading cascade timers failed'))
        .finally(() => {
          this.#polling = null;
          if (!this.#stopped) this.#poll = setTimeout(tick, this.#pollMs);
        });
    };
    this.#poll = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#poll);
    for (const t of this.#timers.values()) clearTimeout(t.handle);
    this.#timers.clear();
    if (this.#polling) await this.#polling;
    await Promise.allSettled([...this.#firing]);
  }

  /** Arms the timers of cascades just stored (accept). */
  accepted(cascades: readonly Pick<CascadeRow, 'id' | 'timer_at'>[]): void {
    for (const c of cascades) if (c.timer_at !== null) this.arm(c.id, c.timer_at);
  }

  /** Holds a timer in memory; a later one replaces it. Far ones are left to the poll. */
  arm(id: string, at: number, now = Date.now()): void {
    if (this.#stopped || at - now > HORIZON_MS) return;
    const held = this.#timers.get(id);
    if (held && held.at === at) return;
    if (held) clearTimeout(held.handle);
    const handle = setTimeout(() => {
      if (this.#timers.get(id)?.handle === handle) this.#timers.delete(id);
      const p = this.fire(id).catch((err: unknown) => this.#log.error({ err, cascade: id }, 'a cascade timer failed; the poll tries again'));
      this.#firing.add(p);
      void p.finally(() => this.#firing.delete(p));
    }, Math.max(0, at - now));
    this.#timers.set(id, { at, handle });
  }

  /** Arms the timers that fall due soon (after a restart, or an arm lost with a failed commit). */
  async pollOnce(now = Date.now()): Promise<number> {
    const due = await this.#repo.timersBefore(now + Math.max(1000, 2 * this.#pollMs), 2000);
    for (const t of due) this.arm(t.id, t.timer_at, now);
    return due.length;
  }

  /** A timer fired: in one unit, if the cascade still waits on it, the next step starts (or the cascade ends). */
  async fire(id: string, now = Date.now()): Promise<void> {
    const early = await this.#batcher.run(async (tx) => {
      const [c] = await CascadesRepository.byIds(tx, [id]);
      if (!c || c.status !== 'running' || c.timer_at === null) return undefined;
      // A timer may fire a millisecond early (or the row moved on to a later timer): wait for it again.
      if (c.timer_at > now) return c.timer_at;
      const child = await tx.selectFrom('messages').select(['status']).where('id', '=', c.child_id).executeTakeFirst();
      const action = decideOnTimer(c, parseSteps(c), child?.status ?? 'accepted');
      const effects = this.#effects();
      const events: EventInput[] = [];
      await this.#apply(tx, c, action, now, events, effects);
      if (action.kind === 'none') {
        await tx.updateTable('cascades').set({ timer_at: null, updated_at: now }).where('id', '=', c.id).where('step', '=', c.step).execute();
      }
      effects.changes.push(...(await insertEvents(tx, events, this.#outbox)));
      return undefined;
    });
    if (early !== undefined) this.arm(id, early);
  }

  /**
   * No step after the running one starts any more (the cascade's
   * verification ended: the code is used up or dead): the later steps are
   * dropped and the timer cleared. The running step's message, if not sent
   * yet, is withdrawn, which ends the cascade; a sent one decides it as the
   * last step would. Resolves true when the cascade was running.
   */
  async stopAfterCurrent(id: string, now = Date.now()): Promise<boolean> {
    return this.#batcher.run(async (tx) => (await this.stopAfterCurrentIn(tx, [id], now)) > 0);
  }

  /**
   * `stopAfterCurrent` for many cascades in the caller's unit of the write
   * batcher (a cancelled mailing's page); the running steps' messages not sent
   * yet are withdrawn with `reason`. Returns how many were running.
   */
  async stopAfterCurrentIn(tx: Kysely<DB>, ids: readonly string[], now: number, reason: 'cascade_superseded' | 'mailing_cancelled' = 'cascade_superseded'): Promise<number> {
    const effects = this.#effects();
    const out: EventInput[] = [];
    let stopped = 0;
    for (const c of await CascadesRepository.byIds(tx, ids)) {
      if (c.status !== 'running') continue;
      const steps = parseSteps(c).map((s, i) => (i >= c.step ? { ...s, dropped: true as const } : s));
      const moved = await tx
        .updateTable('cascades')
        .set({ steps: JSON.stringify(steps), timer_at: null, updated_at: now })
        .where('id', '=', c.id)
        .where('step', '=', c.step)
        .where('status', '=', 'running')
        .executeTakeFirst();
      if (Number(moved.numUpdatedRows) !== 1) continue;
      stopped++;
      await this.#withdraw(tx, c, c.child_id, now, out, reason);
    }
    if (out.length > 0) effects.changes.push(...(await insertEvents(tx, out, this.#outbox)));
    return stopped;
  }

  /** The outbox's hook: the changes of steps' messages and of parents, in their transaction. */
  async onEvents(tx: Kysely<DB>, events: readonly OutboxMessageEvent[]): Promise<void> {
    const relevant: { e: OutboxMessageEvent; row: CascadeFields }[] = [];
    const rowless: OutboxMessageEvent[] = [];
    for (const e of events) {
      if (!e.row) rowless.push(e);
      // A parent's own changes matter only when it ends by itself (a cancel, an expiry); most are the engine's own.
      else if (e.row.cascade_step === 0 ? FAILED.has(e.status) : e.row.cascade_step !== null && e.row.cascade_step !== undefined) relevant.push({ e, row: e.row as CascadeFields });
    }
    if (rowless.length > 0) {
      // A transition that returns no row (a cancel): read what the engine needs, only for those.
      const found = new Map<string, CascadeFields>();
      for (const ids of inLists([...new Set(rowless.map((e) => e.messageId))])) {
        const rows = await tx.selectFrom('messages').select(['id', 'parent_id', 'cascade_step', 'reason_code']).where('id', 'in', ids).where('cascade_step', 'is not', null).execute();
        for (const r of rows) found.set(r.id, r as CascadeFields);
      }
      for (const e of rowless) {
        const row = found.get(e.messageId);
        if (row && (row.cascade_step !== 0 || FAILED.has(e.status))) relevant.push({ e, row });
      }
    }
    if (relevant.length === 0) return;
    const now = Date.now();
    const cascadeIdOf = (x: { e: OutboxMessageEvent; row: CascadeFields }) => (x.row.cascade_step === 0 ? x.e.messageId : x.row.parent_id!);
    const cascades = new Map((await CascadesRepository.byIds(tx, relevant.map(cascadeIdOf))).map((c) => [c.id, c]));
    const effects = this.#effects();
    const out: EventInput[] = [];
    /** parents to move on, by the status they move to: one statement each, after the decisions */
    const progress = new Map<'queued' | 'sent', Map<string, string>>([['queued', new Map()], ['sent', new Map()]]);
    for (const x of relevant) {
      const c = cascades.get(cascadeIdOf(x));
      if (!c) continue;
      if (x.row.cascade_step === 0) {
        // The parent itself ended (cancelled by the client, or expired): the cascade stops with it.
        if (c.status === 'running' && FAILED.has(x.e.status)) await this.#end(tx, c, null, now, out);
        continue;
      }
      const action = decideOnChild(c, parseSteps(c), x.row.cascade_step!, x.e.status, x.row.reason_code ?? null);
      if (action.kind === 'progress') progress.get(action.status)!.set(c.id, c.account_id);
      else await this.#apply(tx, c, action, now, out, effects);
    }
    // queued first: a parent whose step was taken and sent in one batch goes through both.
    for (const status of ['queued', 'sent'] as const) {
      const ids = [...progress.get(status)!.keys()];
      if (ids.length > 0) out.push(...(await progressParents(tx, ids, status, now)));
    }
    if (out.length > 0) effects.changes.push(...(await insertEvents(tx, out, this.#outbox)));
  }

  /** Effects to carry out once the current unit has committed. */
  #effects(): Effects {
    const effects: Effects = { dispatch: [], timers: [], changes: [] };
    const after = (stored: boolean) => {
      if (!stored) return;
      if (effects.changes.length > 0) this.#bus.publishStatus(effects.changes);
      if (effects.dispatch.length > 0) this.#dispatcher?.enqueue(effects.dispatch);
      for (const t of effects.timers) this.arm(t.id, t.at);
    };
    try {
      this.#batcher.onSettled(after);
    } catch {
      // Not inside a batching unit: the poll and the scheduler find the work instead.
    }
    return effects;
  }

  async #apply(tx: Kysely<DB>, c: CascadeRow, action: CascadeAction, now: number, out: EventInput[], effects: Effects): Promise<void> {
    if (action.kind === 'none') return;
    if (action.kind === 'progress') {
      out.push(...(await progressParents(tx, [c.id], action.status, now)));
      return;
    }
    if (action.kind === 'read') {
      out.push(...(await markRead(tx, [{ id: c.id, accountId: c.account_id }], now)));
      return;
    }
    if (action.kind === 'finish') {
      await this.#end(tx, c, action.step, now, out);
      return;
    }
    // advance: the cascade row moves first, and only from the step it was in, so the move happens once.
    const steps = parseSteps(c);
    const spec = steps[action.to - 1]!;
    const parent = await tx.selectFrom('messages').selectAll().where('id', '=', c.id).executeTakeFirst();
    if (!parent) return;
    // A step that starts inside the recipient's quiet hours waits for their end: an advertising one, as any advertising
    // message, and any mailing's (a mailing's messages wait out quiet hours whatever their traffic type).
    const quiet = parent.traffic_type === 'advertising' || parent.mailing_id != null;
    const account = quiet ? await tx.selectFrom('accounts').selectAll().where('id', '=', c.account_id).executeTakeFirst() : undefined;
    // In the zone the first step was timed by when it is known (a mailing's contact's), else the number's region's.
    const startAt = account ? quietHoursRelease(account, 'advertising', spec.message.region, now, spec.time_zone) : now;
    const child = stepMessage(parent, spec, action.to, now, startAt);
    const timerAt = spec.timeout_seconds === null ? null : startAt + spec.timeout_seconds * 1000;
    const moved = await tx
      .updateTable('cascades')
      .set({ step: action.to, child_id: child.id, timer_at: timerAt, updated_at: now })
      .where('id', '=', c.id)
      .where('step', '=', c.step)
      .where('status', '=', 'running')
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) !== 1) return;
    const previous = c.child_id;
    Object.assign(c, { step: action.to, child_id: child.id, timer_at: timerAt, updated_at: now });
    if (action.stop !== null) {
      // The step left behind, not sent yet, is withdrawn first: its refund (written with its event) may pay for the next.
      const withdrawn: EventInput[] = [];
      await this.#withdraw(tx, c, previous, now, withdrawn);
      if (withdrawn.length > 0) effects.changes.push(...(await insertEvents(tx, withdrawn, this.#outbox)));
    }
    // The step is paid for like any message: reserved now (charged when sent, refunded if it ends unsent).
    const short = (await reserveInTx(tx, [{ key: child.id, accountId: c.account_id, messages: [child] }], now)).get(child.id);
    if (short) {
      await this.#unaffordable(tx, c, child, short, now, out);
      return;
    }
    await MessagesRepository.insertAccepted(tx, [child]);
    // The parent's validity covers its newest step's.
    const lasts = Math.max(child.expires_at, timerAt ?? 0);
    if (lasts > parent.expires_at) await tx.updateTable('messages').set({ expires_at: lasts }).where('id', '=', c.id).execute();
    effects.dispatch.push(child.id);
    if (timerAt !== null) effects.timers.push({ id: c.id, at: timerAt });
  }

  /**
   * The balance does not cover the step that is due: its message is stored
   * as `failed` with `insufficient_balance` (never sent, nothing reserved, so
   * nothing to refund) and the cascade ends on it, the parent with it.
   */
  async #unaffordable(tx: Kysely<DB>, c: CascadeRow, child: MessageRow, short: { neededMinor: number; availableMinor: number }, now: number, out: EventInput[]): Promise<void> {
    const reason: FailureReason = {
      code: 'insufficient_balance',
      detail: `step ${child.cascade_step} (${child.channel}) costs ${formatMoney(short.neededMinor)} RUB, ${formatMoney(short.availableMinor)} RUB available (balance plus credit limit)`,
    };
    const failed: MessageRow = { ...child, status: 'failed', reason_code: reason.code, reason_detail: reason.detail!, completed_at: now, updated_at: now };
    // Unpriced as stored: nothing was reserved, so its failure refunds nothing.
    delete failed.price_minor;
    await MessagesRepository.insertAccepted(tx, [failed]);
    out.push({ accountId: c.account_id, messageId: failed.id, status: 'failed', reason, at: now, row: failed });
    await this.#end(tx, c, child.cascade_step!, now, out);
  }

  /**
   * Ends the cascade: the parent takes the status and reason of the deciding
   * step's message (with its channel and connector), or with `step` null (the
   * parent ended by itself) only the cascade stops. The running step's message,
   * if it is another and not sent yet, is withdrawn.
   */
  async #end(tx: Kysely<DB>, c: CascadeRow, step: number | null, now: number, out: EventInput[]): Promise<void> {
    const moved = await tx
      .updateTable('cascades')
      .set({ status: 'done', timer_at: null, decided_step: step, updated_at: now })
      .where('id', '=', c.id)
      .where('status', '=', 'running')
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) !== 1) return;
    Object.assign(c, { status: 'done', timer_at: null, decided_step: step, updated_at: now });
    let decidedBy: string | null = null;
    if (step !== null) {
      const child = await tx.selectFrom('messages').selectAll().where('parent_id', '=', c.id).where('cascade_step', '=', step).executeTakeFirst();
      if (child) {
        decidedBy = child.id;
        // A read step's message makes the parent delivered, then read: its events say both, as the step's do.
        const read = child.status === 'read';
        const status = (read ? 'delivered' : child.status) as MessageStatus;
        const delivered = status === 'delivered';
        const parent = await tx
          .updateTable('messages')
          .set((eb) => ({
            status,
            reason_code: child.reason_code,
            provider_code: child.provider_code,
            reason_detail: child.reason_detail,
            channel: child.channel,
            connector_id: child.connector_id,
            completed_at: now,
            lease_until: null,
            updated_at: now,
            ...(delivered ? { delivered_at: now, sent_at: eb.fn.coalesce('sent_at', eb.val(child.sent_at ?? now)) } : {}),
          }))
          .where('id', '=', c.id)
          .where('status', 'in', ['accepted', 'queued', 'sent'])
          .returningAll()
          .executeTakeFirst();
        if (parent) {
          const reason = child.reason_code && isReasonCode(child.reason_code) ? { code: child.reason_code, providerCode: child.provider_code ?? undefined, detail: child.reason_detail ?? undefined } : undefined;
          out.push({ accountId: c.account_id, messageId: c.id, status, reason, at: now, row: parent });
          if (read) out.push(...(await markRead(tx, [{ id: c.id, accountId: c.account_id }], now)));
        }
      }
    }
    if (c.child_id !== decidedBy) await this.#withdraw(tx, c, c.child_id, now, out);
  }

  /**
   * A step's message that is not sent yet (no sender holds it, and none of
   * its parts went out) is not needed any more: cancelled, `cascade_superseded`.
   * A long text some parts of are out already, waiting to send the rest, is
   * not withdrawn: like a step that was sent it keeps going (cancel.ts cancelUnsent).
   */
  async #withdraw(tx: Kysely<DB>, c: Pick<CascadeRow, 'account_id'>, messageId: string, now: number, out: EventInput[], reason: 'cascade_superseded' | 'mailing_cancelled' = 'cascade_superseded'): Promise<void> {
    out.push(...(await cancelUnsent(tx, c.account_id, [messageId], reason, now)));
  }
}

type CascadeFields = Pick<MessageRow, 'parent_id' | 'cascade_step' | 'reason_code'>;

/** Parents whose step message was taken (→ queued) or sent (→ sent), in one statement per list; only forwards. */
async function progressParents(tx: Kysely<DB>, ids: readonly string[], status: 'queued' | 'sent', now: number): Promise<EventInput[]> {
  const from: MessageStatus[] = status === 'queued' ? ['accepted'] : ['accepted', 'queued'];
  const out: EventInput[] = [];
  for (const list of inLists(ids)) {
    const moved = await tx
      .updateTable('messages')
      .set((eb) => ({ status, queued_at: eb.fn.coalesce('queued_at', eb.val(now)), ...(status === 'sent' ? { sent_at: now } : {}), updated_at: now }))
      .where('id', 'in', list)
      .where('status', 'in', from)
      .returningAll()
      .execute();
    for (const m of moved) out.push({ accountId: m.account_id, messageId: m.id, status, at: now, row: m });
  }
  return out;
}

/** The message of step `n`, made from the parent and the step's prepared message, due at `dueAt` (now, or the end of quiet hours). */
export function stepMessage(parent: MessageRow, spec: CascadeStepSpec, n: number, now: number, dueAt = now): MessageRow {
  const m = spec.message;
  return {
    id: newId('msg', now),
    account_id: parent.account_id,
    batch_id: null,
    channel: m.channel,
    recipient: m.recipient,
    sender: m.sender,
    body: m.body,
    encoding: m.encoding,
    characters: m.characters,
    parts_count: m.parts_count,
    traffic_type: parent.traffic_type,
    group_tag: parent.group_tag,
    project: parent.project,
    reference: parent.reference,
    status: 'accepted',
    reason_code: null,
    provider_code: null,
    reason_detail: null,
    connector_id: spec.connector,
    attempts: 0,
    ttl_seconds: parent.ttl_seconds,
    send_at: null,
    expires_at: dueAt + parent.ttl_seconds * 1000,
    due_at: dueAt,
    lease_until: null,
    created_at: now,
    queued_at: null,
    sent_at: null,
    delivered_at: null,
    completed_at: null,
    updated_at: now,
    operator: m.operator,
    region: m.region,
    callback_url: parent.callback_url,
    content: m.content,
    parent_id: parent.id,
    cascade_step: n,
    ...(m.price_minor ? { price_minor: m.price_minor } : {}),
    ...(m.template_id ? { template_id: m.template_id } : {}),
  };
}
