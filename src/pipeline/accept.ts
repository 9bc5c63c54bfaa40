import type { Insertable, Kysely } from 'kysely';
import { checkChannelMessage, fieldNotAllowed, type Channel, type TemplateRef } from '../connectors/channels.ts';
import { ApiError } from '../errors.ts';
import { newId } from '../domain/ids.ts';
import { nulDetail } from '../domain/nul.ts';
import { webhookUrlProblem } from '../events/webhooks/url.ts';
import { segment, type Segmentation } from '../sms/encoding.ts';
import type { OperatorLookup } from '../sms/mno.ts';
import { normalizePhone } from '../sms/phone.ts';
import type { Account } from '../store/accounts.ts';
import { IdempotencyRepository, type IdempotencyHold } from '../store/idempotency.ts';
import { MessagesRepository, type BatchRow, type MessageRow } from '../store/messages.ts';
import { MailingsRepository, type MailingPage } from '../store/mailings.ts';
import type { ModuleSwitches } from '../store/modules.ts';
import type { DB, SmppSubmitsTable } from '../store/schema.ts';
import type { SenderRegistry } from '../store/sender-names.ts';
import { insertChunks } from '../store/shapes.ts';
import type { WriteBatcher } from '../store/write-batcher.ts';
import { reserveInTx } from '../store/balance.ts';
import { billingContext, billMessage, insufficientBalance, isTemplatedTraffic, unmatchedTemplatesPolicy, type AcceptBilling, type BillingContext } from './billing.ts';
import { CascadesRepository, type CascadeRow } from '../store/cascades.ts';
import { VerificationsRepository, type VerificationRow } from '../store/verifications.ts';
import type { CascadeStepRequest } from './cascade.ts';
import type { StatusChange } from '../events/bus.ts';
import type { EventOutbox } from '../events/webhooks/outbox.ts';
import { insertEvents, type EventInput } from './transitions.ts';
import { checkSender, quietHoursRelease, type SenderRegistryCache } from './policy.ts';

export const TRAFFIC_TYPES = ['service', 'transactional', 'advertising', 'informational'] as const;
export type TrafficType = (typeof TRAFFIC_TYPES)[number];

/** One message as a client asks for it (already schema-checked: types, lengths, no unknown fields). */
export interface SendRequest {
  /** default `sms`; the other channels are checked by connectors/channels.ts */
  channel?: Channel | undefined;
  to: string;
  text: string;
  from?: string | undefined;
  ttl_seconds?: number | undefined;
  send_at?: string | undefined;
  group?: string | undefined;
  project?: string | undefined;
  traffic_type?: TrafficType | undefined;
  reference?: string | undefined;
  /** where this message's status events are also posted, signed with the account's callback secret */
  callback_url?: string | undefined;
  /** email */
  subject?: string | undefined;
  html?: string | undefined;
  /** whatsapp, viber */
  template?: TemplateRef | undefined;
  /** send by these steps in turn instead (pipeline/cascade.ts: prepareCascade) */
  cascade?: CascadeStepRequest[] | undefined;
}

/** `send_at` may be at most this far ahead. */
export const MAX_SCHEDULE_AHEAD_MS = 180 * 24 * 60 * 60 * 1000;

const ALPHA_SENDER = /^[A-Za-z0-9 .\-_&!'"+]{1,11}$/;
const NUMERIC_SENDER = /^\+?\d{1,15}$/;

export type Prepared = { ok: true; row: MessageRow; segmentation: Segmentation } | { ok: false; error: ApiError };

/** What accept needs beyond the account and the request. */
export interface AcceptContext {
  /** the recipient's operator and region (sms/mno.ts) */
  operators: OperatorLookup | undefined;
  /** the account's sender names; needed only when the account requires registered senders (acceptContext loads them then) */
  senders: SenderRegistry | undefined;
  /** the price list and the account's approved templates (pipeline/billing.ts); absent: nothing is priced or matched */
  billing?: BillingContext | undefined;
  /** the platform's modules switched off (store/modules.ts): a message on a channel among them is refused */
  modulesOff?: ReadonlySet<string> | undefined;
  /**
   * the recipient's time zone when the caller resolved it (the mailing runner: the contact's own, else their region's,
   * else the account's): quiet hours are in it, so they apply once, in the zone the runner timed the message by
   */
  recipientZone?: string | undefined;
  /**
   * `webhooks.allow_private_addresses`: whether a `callback_url` may be a
   * private, loopback or link-local IP address. The webhook poster refuses
   * to post there otherwise, so accept refuses such a message up front.
   */
  allowPrivateCallbackAddresses: boolean;
}

/**
 * What an accept context is made from. The HTTP layer's and the SMPP
 * server's deps are such sources as they are (`acceptContext(account, deps)`),
 * so no caller picks the pieces, or the webhook setting, by hand.
 */
export interface AcceptSources {
  /** the operator of a number (sms/mno.ts) */
  mno: OperatorLookup | undefined;
  /** each account's registered sender names */
  senderRegistry: SenderRegistryCache;
  /** prices and approved templates (pipeline/billing.ts) */
  billing?: AcceptBilling | undefined;
  /** the platform's module switches */
  modules?: ModuleSwitches | undefined;
  /** `config.webhooks.allowPrivateAddresses`, the setting the webhook poster honours */
  config: { webhooks: { allowPrivateAddresses: boolean } };
}

const NO_SENDERS: SenderRegistry = new Map();

/** The context for an account's accepts: the lookup, its sender registry when its policy needs it, prices, module switches and the callback address rule. */
export async function acceptContext(account: Account, sources: AcceptSources): Promise<AcceptContext> {
  return {
    operators: sources.mno,
    senders: account.require_registered_senders === 1 ? await sources.senderRegistry.get(account.id) : undefined,
    billing: await billingContext(sources.billing, account.id),
    modulesOff: await sources.modules?.disabled(),
    allowPrivateCallbackAddresses: sources.config.webhooks.allowPrivateAddresses,
  };
}

/**
 * Applies the rules that a schema cannot: number, sender (and the account's
 * sender policy), text size in parts, schedule (and quiet hours). Returns the
 * row to store, or the error naming the field. The context's `operators`
 * gives the recipient's operator and region (null when the registry does not
 * cover the number).
 */
export function prepareMessage(account: Account, req: SendRequest, now: number, batchId: string | null, context: AcceptContext, fieldPrefix = ''): Prepared {
  const field = (name: string) => fieldPrefix + name;
  const channel = req.channel ?? 'sms';
  if (context.modulesOff?.has(channel)) return { ok: false, error: new ApiError('channel_disabled', `the ${channel} channel is switched off on this platform`, [{ field: field('channel'), issue: 'switched off by the platform administrator' }]) };
  // The HTTP API refuses U+0000 in any field up front (domain/nul.ts, ingress/http/app.ts); a text from SMPP or a compatibility API is checked here.
  if (req.text?.includes('\0')) return { ok: false, error: new ApiError('validation_failed', 'text must not contain the NUL character (U+0000)', [nulDetail(field('text'))]) };
  let recipient: string;
  let sender: string | null;
  let segmentation: Segmentation;
  let mno: { operator: string | null; region: string | null } | null = null;
  let content: string | null = null;
  if (channel === 'sms') {
    const notAllowed = fieldNotAllowed(req, field) ?? smsLengths(req, field);
    if (notAllowed) return { ok: false, error: notAllowed };
    const phone = normalizePhone(req.to, account.default_region);
    if (!phone.ok) {
      return { ok: false, error: new ApiError('invalid_phone_number', `"${req.to}" is not a valid phone number: ${phone.issue}`, [{ field: field('to'), issue: phone.issue }]) };
    }
    if (req.from !== undefined && !ALPHA_SENDER.test(req.from) && !NUMERIC_SENDER.test(req.from)) {
      const issue = 'must be 1–11 Latin letters, digits and spaces, or a number of up to 15 digits';
      return { ok: false, error: new ApiError('invalid_sender', `sender "${req.from}" ${issue}`, [{ field: field('from'), issue }]) };
    }
    if (req.text.trim() === '') {
      return { ok: false, error: new ApiError('empty_text', 'text is empty', [{ field: field('text'), issue: 'must contain at least one visible character' }]) };
    }
    segmentation = segment(req.text);
    if (segmentation.parts.length > account.max_parts) {
      const issue = `needs ${segmentation.parts.length} ${segmentation.encoding === 'gsm7' ? 'GSM-7' : 'UCS-2'} parts; the limit is ${account.max_parts}`;
      return { ok: false, error: new ApiError('text_too_long', `text ${issue}`, [{ field: field('text'), issue }]) };
    }
    recipient = phone.e164;
    mno = context.operators?.lookup(phone.e164.slice(1)) ?? null;
    const checked = checkSender(account, context.senders ?? NO_SENDERS, req.from ?? null, mno?.operator ?? null);
    if (!checked.ok) return { ok: false, error: new ApiError('sender_not_allowed', checked.issue, [{ field: field('from'), issue: checked.issue }]) };
    sender = checked.sender;
  } else {
    const checked = checkChannelMessage(req, account.default_region, field);
    if (!checked.ok) return { ok: false, error: checked.error };
    recipient = checked.recipient;
    sender = checked.sender;
    content = checked.content && JSON.stringify(checked.content);
    // One message, one provider request: only the encoding and size are kept from the SMS view.
    segmentation = segment(req.text);
  }
  let sendAt: number | null = null;
  if (req.send_at !== undefined) {
    sendAt = Date.parse(req.send_at);
    if (Number.isNaN(sendAt) || sendAt > now + MAX_SCHEDULE_AHEAD_MS) {
      const issue = 'must be an RFC 3339 date-time at most 180 days ahead';
      return { ok: false, error: new ApiError('invalid_send_at', `send_at ${issue}`, [{ field: field('send_at'), issue }]) };
    }
  }
  if (req.callback_url !== undefined) {
    const issue = webhookUrlProblem(req.callback_url, context.allowPrivateCallbackAddresses);
    if (issue) return { ok: false, error: new ApiError('invalid_webhook_url', `callback_url ${issue}`, [{ field: field('callback_url'), issue }]) };
  }
  const ttlSeconds = req.ttl_seconds ?? account.default_ttl_seconds;
  let trafficType: TrafficType = req.traffic_type ?? 'service';
  // Priced, and matched against the approved templates (service and transactional SMS: pipeline/billing.ts).
  let bill = billMessage(context.billing, account.id, channel, req.text, trafficType, mno?.operator ?? null, sender);
  if (context.billing && isTemplatedTraffic(channel, trafficType) && bill.template_id === undefined) {
    const policy = unmatchedTemplatesPolicy(account);
    if (policy === 'reject') {
      const issue = `matches none of the account's templates approved for ${mno?.operator ? `operator ${mno.operator}` : "the recipient's operator"}${sender ? ` and sender ${sender}` : ''} (GET /v1/templates); send it as advertising, or register a template`;
      return { ok: false, error: new ApiError('template_not_matched', `the ${trafficType} text ${issue}`, [{ field: field('text'), issue }]) };
    }
    if (policy === 'advertising') {
      // As operators treat unregistered service traffic: sent, timed (quiet hours) and priced as advertising.
      trafficType = 'advertising';
      bill = billMessage(context.billing, account.id, channel, req.text, trafficType, mno?.operator ?? null, sender);
    }
  }
  // Validity counts from when the message may go: its send_at, or the end of quiet hours.
  const start = quietHoursRelease(account, trafficType, mno?.region ?? null, Math.max(now, sendAt ?? now), context.recipientZone);
  return {
    ok: true,
    segmentation,
    row: {
      id: newId('msg', now),
      account_id: account.id,
      batch_id: batchId,
      channel,
      recipient,
      sender,
      body: req.text,
      encoding: segmentation.encoding,
      characters: segmentation.characters,
      parts_count: channel === 'sms' ? segmentation.parts.length : 1,
      traffic_type: trafficType,
      group_tag: req.group ?? null,
      project: req.project ?? null,
      reference: req.reference ?? null,
      status: 'accepted',
      reason_code: null,
      provider_code: null,
      reason_detail: null,
      connector_id: null,
      attempts: 0,
      ttl_seconds: ttlSeconds,
      send_at: sendAt,
      expires_at: start + ttlSeconds * 1000,
      due_at: start,
      lease_until: null,
      created_at: now,
      queued_at: null,
      sent_at: null,
      delivered_at: null,
      completed_at: null,
      updated_at: now,
      operator: mno?.operator ?? null,
      region: mno?.region ?? null,
      callback_url: req.callback_url ?? null,
      // Left out of SMS rows, so they are written exactly as before.
      ...(content === null ? {} : { content }),
      // Likewise absent for a free message that matched no template.
      ...bill,
    },
  };
}

/** The SMS limits of `to` and `from`, as the schema had them before other channels needed longer ones. */
function smsLengths(req: SendRequest, field: (name: string) => string): ApiError | null {
  if (req.to.length > 64) return new ApiError('validation_failed', `the request body is invalid: ${field('to')} must NOT have more than 64 characters`, [{ field: field('to'), issue: 'must NOT have more than 64 characters' }]);
  if (req.from !== undefined && req.from.length > 16) return new ApiError('validation_failed', `the request body is invalid: ${field('from')} must NOT have more than 16 characters`, [{ field: field('from'), issue: 'must NOT have more than 16 characters' }]);
  return null;
}

export interface AcceptJob {
  messages: MessageRow[];
  batch?: BatchRow | undefined;
  /** for messages submitted over SMPP: who submitted each and whether they want a receipt */
  smppSubmits?: Insertable<SmppSubmitsTable>[] | undefined;
  /** cascades of parents among `messages`, written in the same transaction */
  cascades?: CascadeRow[] | undefined;
  /** the answer to remember under the request's Idempotency-Key, written in the same transaction */
  idempotency?: (IdempotencyHold & { status: number; body: string }) | undefined;
  /** a mailing runner's page: its recipient rows go in the same transaction, and only while the mailing's run is running */
  mailing?: MailingPage | undefined;
  /** the verifications whose codes these messages carry, written in the same transaction: none is left without its message when the accept fails */
  verifications?: VerificationRow[] | undefined;
  /**
   * write the messages due now as already claimed by this process's sender
   * (queued, leased, the attempt counted), the claim's events in the same
   * transaction: the sender gets them from `write` instead of claiming them
   * in a transaction of its own. Only for a writer made with `claims`.
   */
  claim?: boolean | undefined;
}

/** Messages a job's transaction wrote as claimed (`AcceptJob.claim`), for the sender. */
export interface ClaimedAtAccept {
  rows: MessageRow[];
  /** the claim's status changes, committed: to publish */
  changes: StatusChange[];
  /** when they were claimed */
  at: number;
}

export interface AcceptClaims {
  /** how long a claim belongs to the sender (its lease) */
  leaseMs: number;
  /** where the claim's events become webhook deliveries and cascade decisions, in the same transaction */
  outbox?: EventOutbox | undefined;
}

interface GroupResult {
  /** the jobs that failed, with their errors */
  failed: Map<AcceptJob, Error>;
  /** what the jobs that asked for it had claimed */
  claimed: Map<AcceptJob, ClaimedAtAccept>;
}

interface OpenGroup {
  jobs: AcceptJob[];
  size: number;
  /** settles when the group's transaction has committed */
  done: Promise<GroupResult>;
}

/**
 * Writes accepted messages with group commit: the jobs of every request that
 * arrives within one tick go into shared multi-row inserts, in the transaction
 * the write batcher shares with the rest of the pipeline's writes, and each
 * caller's promise resolves only after that transaction commits. A failing
 * group is retried job by job in the same transaction, so one bad job cannot
 * fail its neighbours.
 */
export class AcceptWriter {
  readonly #batcher: WriteBatcher;
  readonly #maxGroup: number;
  readonly #claims: AcceptClaims | undefined;
  /** the group still taking jobs: it closes when its unit starts running */
  #open: OpenGroup | null = null;

  constructor(batcher: WriteBatcher, options: { maxGroupMessages?: number; claims?: AcceptClaims | undefined } = {}) {
    this.#batcher = batcher;
    this.#maxGroup = options.maxGroupMessages ?? 5000;
    this.#claims = options.claims;
  }

  /** Resolves once the job is committed: with what it claimed, when it asked to (`AcceptJob.claim`). */
  async write(job: AcceptJob): Promise<ClaimedAtAccept | undefined> {
    let group = this.#open;
    if (!group || (group.size > 0 && group.size + job.messages.length > this.#maxGroup)) {
      const jobs: AcceptJob[] = [];
      const opened: OpenGroup = {
        jobs,
        size: 0,
        done: this.#batcher.run(async (tx) => {
          if (this.#open === opened) this.#open = null;
          return this.#writeGroup(tx, jobs);
        }),
      };
      group = this.#open = opened;
      // A transaction that fails before its units run (no connection: the database is away) never
      // closes the group from inside: close it here, or every later job would join the failed group.
      void opened.done.then(
        () => {},
        () => {
          if (this.#open === opened) this.#open = null;
        },
      );
    }
    group.jobs.push(job);
    group.size += job.messages.length;
    const { failed, claimed } = await group.done;
    const error = failed.get(job);
    if (error) throw error;
    return claimed.get(job);
  }

  /** The whole group in one go; if that fails, each job on its own. */
  async #writeGroup(tx: Kysely<DB>, jobs: AcceptJob[]): Promise<GroupResult> {
    // Through the batcher: what a rolled-back attempt handed over (webhook deliveries) is told it is gone.
    const all = await this.#batcher.savepoint(tx, (t) => this.#writeJobs(t, jobs));
    if (all.ok) return all.value;
    const result: GroupResult = { failed: new Map(), claimed: new Map() };
    if (jobs.length === 1) {
      result.failed.set(jobs[0]!, all.error);
      return result;
    }
    for (const job of jobs) {
      const one = await this.#batcher.savepoint(tx, (t) => this.#writeJobs(t, [job]));
      if (!one.ok) result.failed.set(job, one.error);
      else {
        for (const [j, err] of one.value.failed) result.failed.set(j, err);
        for (const [j, c] of one.value.claimed) result.claimed.set(j, c);
      }
    }
    return result;
  }

  /**
   * All messages of the group go into shared multi-row inserts; batches and
   * idempotency answers beside them. First the reserves of priced messages
   * (store/balance.ts): a job the account's money does not cover is left out
   * and returned with `insufficient_balance`.
   */
  async #writeJobs(tx: Kysely<DB>, all: AcceptJob[]): Promise<GroupResult> {
    const now = Date.now();
    const refused = await reserveInTx(tx, all.map((job) => ({ key: job, accountId: job.messages[0]?.account_id ?? '', messages: job.messages })), now);
    const result: GroupResult = { failed: new Map(), claimed: new Map() };
    for (const [job, r] of refused) result.failed.set(job, insufficientBalance(r.neededMinor, r.availableMinor, job.messages.length === 1 ? 'this message' : `these ${job.messages.length} messages`));
    const jobs = refused.size === 0 ? all : all.filter((job) => !refused.has(job));
    if (jobs.length === 0) return result;
    for (const job of jobs) if (job.batch) await MessagesRepository.insertBatch(tx, job.batch);
    for (const job of jobs) if (job.mailing) await MailingsRepository.writePage(tx, job.mailing);
    // Rows as written: a claiming job's due messages already queued and leased (computed afresh on a retry).
    const claims = this.#claims;
    const claiming = claims ? jobs.filter((j) => j.claim) : [];
    const rowsOf = new Map<AcceptJob, MessageRow[]>();
    for (const job of claiming) {
      const leaseUntil = now + claims!.leaseMs;
      const rows = job.messages.map((m) => (m.due_at <= now ? { ...m, status: 'queued', queued_at: now, due_at: leaseUntil, lease_until: leaseUntil, attempts: 1, updated_at: now } : m));
      rowsOf.set(job, rows);
    }
    const written = (j: AcceptJob) => rowsOf.get(j) ?? j.messages;
    await MessagesRepository.insertAccepted(tx, jobs.length === 1 ? written(jobs[0]!) : jobs.flatMap(written));
    const submits = jobs.flatMap((j) => j.smppSubmits ?? []);
    await insertChunks(tx, 'smpp_submits', submits);
    const cascades = jobs.flatMap((j) => j.cascades ?? []);
    if (cascades.length > 0) await CascadesRepository.insert(tx, cascades);
    const verifications = jobs.flatMap((j) => j.verifications ?? []);
    if (verifications.length > 0) await VerificationsRepository.insert(tx, verifications);
    for (const job of jobs) {
      const i = job.idempotency;
      if (i) await IdempotencyRepository.complete(tx, i, i.status, i.body);
    }
    if (claiming.length > 0) {
      // The claim's events, as the sender's claim would have written them: every job's in one go.
      const taken = claiming.map((job) => ({ job, rows: rowsOf.get(job)!.filter((r) => r.status === 'queued') }));
      const events: EventInput[] = taken.flatMap(({ rows }) => rows.map((r) => ({ accountId: r.account_id, messageId: r.id, status: 'queued' as const, at: now, row: r })));
      const changes = await insertEvents(tx, events, claims!.outbox);
      let at = 0;
      for (const { job, rows } of taken) {
        result.claimed.set(job, { rows, changes: changes.slice(at, at + rows.length), at: now });
        at += rows.length;
      }
    }
    return result;
  }
}
