import type { Kysely } from 'kysely';
import { CHANNELS, type Channel } from '../connectors/channels.ts';
import { nextCronOccurrence, nominalOfRun, recipientDueAt, runStartFor } from '../domain/mailing-schedule.ts';
import { mailingTemplateIds, parseMailingTemplates, templateIdFor } from '../domain/mailing-templates.ts';
import { renderForContact, type ContactFields, type Rendered } from '../domain/templates.ts';
import type { Logger } from '../log.ts';
import { timeZoneOfRegion } from '../sms/region-time-zones.ts';
import type { OperatorLookup } from '../sms/mno.ts';
import { AccountsRepository, type Account } from '../store/accounts.ts';
import { contactFields, type Contact } from '../store/contacts.ts';
import {
  DEFAULT_ERROR_MIN_SAMPLE,
  DEFAULT_STEP_TIMEOUT_SECONDS,
  DEFAULT_STEP_UNTIL,
  DEFAULT_ERROR_THRESHOLD_PERCENT,
  MAILING_ERROR_STATUSES,
  MAILING_OPEN_STATUSES,
  mailingParams,
  MailingNotRunningError,
  MailingsRepository,
  type MailingRow,
} from '../store/mailings.ts';
import type { CascadeRow, CascadeUntil } from '../store/cascades.ts';
import type { MessageRow } from '../store/messages.ts';
import type { DB, MailingRecipientsTable } from '../store/schema.ts';
import { audienceCount, audiencePage, SegmentsRepository } from '../store/segments.ts';
import { SenderNamesRepository } from '../store/sender-names.ts';
import { TemplatesRepository, type TemplateRow } from '../store/templates.ts';
import { acceptContext, prepareMessage, type AcceptJob } from './accept.ts';
import { cascadeOf, type PreparedStep } from './cascade.ts';
import type { AcceptBilling } from './billing.ts';
import { SenderRegistryCache } from './policy.ts';
import type { ModuleSwitches } from '../store/modules.ts';

export interface MailingRunnerOptions {
  /** the clock (tests move it by hand) */
  now?: () => number;
  /** how often the runner looks at its mailings, default 250 ms */
  pollMs?: number;
  /** contacts read per page at most, default 500 */
  pageSize?: number;
  /** how often a running mailing's error share is looked at, default 2000 ms */
  errorCheckMs?: number;
  /** the recipients' operator and region */
  operators?: OperatorLookup | undefined;
  /** the price list and approved templates: a mailing's messages are priced and reserved like the API's */
  billing?: AcceptBilling | undefined;
  /** the platform's module switches: with `mailings` off the runner starts and sends nothing; a channel off is left out */
  modules?: ModuleSwitches | undefined;
}

/** What the runner holds of a running mailing: where its run is, and its throttle's tokens. Rebuilt from the store after a restart. */
interface RunState {
  run: number;
  cursor: string;
  /** throttle bucket: messages that may go now */
  tokens: number;
  refilledAt: number;
  /** the audience is read to its end */
  exhausted: boolean;
  /** auto-pause: counts when this state began, messages accepted since */
  baseErrors: number;
  acceptedSince: number;
  checkedAt: number;
}

/** Why a contact got no message. */
export type SkipReason = 'blocked' | 'no_consent' | 'no_address' | 'channel_unsupported' | 'template_render_failed' | string;

/** Why a contact cannot get a message on a channel (in the order the runner has always checked), or null when it can. */
function channelProblem(contact: Contact, channel: string, to: string | null): SkipReason | null {
  if (contact.consent[channel] === false) return 'no_consent';
  if (!(CHANNELS as readonly string[]).includes(channel)) return 'channel_unsupported';
  if (to === null) return 'no_address';
  return null;
}

/**
 * The address of a contact on a channel, or null when it has none. Telegram
 * is the contact's chat id (or @username) only: a mailing's text goes by the
 * Bot API, which cannot write to a phone number (only the Gateway, for
 * verification codes, can), so a contact without one is not reached by Telegram.
 */
export function addressFor(contact: Contact, channel: string): string | null {
  if (channel === 'email') return contact.emails[0] ?? null;
  if (channel === 'sms' || channel === 'voice' || channel === 'whatsapp' || channel === 'viber') return contact.phones[0] ?? null;
  return contact.messenger_ids[channel] ?? null;
}

/**
 * Each step's text for a contact: its channel's template rendered (the
 * contact's gender variant), a template shared by several steps rendered once.
 */
export function stepTexts(steps: readonly { channel: string }[], templateOf: (channel: string) => TemplateRow, fields: ContactFields, params: Readonly<Record<string, unknown>> = {}): Rendered[] {
  const byTemplate = new Map<string, Rendered>();
  return steps.map(({ channel }) => {
    const template = templateOf(channel);
    const known = byTemplate.get(template.id);
    if (known) return known;
    const rendered = renderForContact(template, fields, params);
    byTemplate.set(template.id, rendered);
    return rendered;
  });
}

/**
 * Throttle as a token bucket: `perMinute` messages a minute, holding at most a
 * second's worth (at least one), so a stalled runner does not burst.
 */
export function refill(tokens: number, elapsedMs: number, perMinute: number): number {
  const capacity = Math.max(1, perMinute / 60);
  return Math.min(capacity, tokens + (perMinute * Math.max(0, elapsedMs)) / 60_000);
}

/** Whether the share of failed messages passed the threshold. */
export function overErrorThreshold(errors: number, finished: number, thresholdPercent: number, minSample: number): boolean {
  return finished >= minSample && finished > 0 && errors * 100 >= thresholdPercent * finished;
}

/**
 * Runs mailings: starts a scheduled one when its run is due, walks its
 * audience in contact id order a page at a time (never the whole audience in
 * memory), renders the template for each contact (gender variant, fields),
 * and hands each page to the accept writer with the page's recipient rows, so
 * both commit together. The recipients' primary key (mailing, run, contact)
 * makes a second message to a contact in one run impossible, and the largest
 * contact id of a run's rows is where it resumes after a restart. Throttle,
 * local time and quiet hours decide how fast and when; a run that reached
 * the end of its audience finishes the mailing, or for a recurring one
 * schedules the next run. A mailing whose errors pass its threshold is paused.
 * Runs on the delivery side (in a cluster, the leader).
 */
export class MailingRunner {
  readonly #db: Kysely<DB>;
  readonly #accept: (job: AcceptJob) => Promise<void>;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #pollMs: number;
  readonly #pageSize: number;
  readonly #errorCheckMs: number;
  readonly #operators: OperatorLookup | undefined;
  readonly #mailings: MailingsRepository;
  readonly #accounts: AccountsRepository;
  readonly #templates: TemplatesRepository;
  readonly #segments: SegmentsRepository;
  readonly #registries: SenderRegistryCache;
  readonly #billing: AcceptBilling | undefined;
  readonly #modules: ModuleSwitches | undefined;
  readonly #states = new Map<string, RunState>();
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | null = null;
  #stopped = false;

  constructor(db: Kysely<DB>, accept: (job: AcceptJob) => Promise<void>, log: Logger, options: MailingRunnerOptions = {}) {
    this.#db = db;
    this.#accept = accept;
    this.#log = log;
    this.#now = options.now ?? Date.now;
    this.#pollMs = options.pollMs ?? 250;
    this.#pageSize = options.pageSize ?? 500;
    this.#errorCheckMs = options.errorCheckMs ?? 2000;
    this.#operators = options.operators;
    this.#billing = options.billing;
    this.#modules = options.modules;
    this.#mailings = new MailingsRepository(db);
    this.#accounts = new AccountsRepository(db);
    this.#templates = new TemplatesRepository(db);
    this.#segments = new SegmentsRepository(db);
    this.#registries = new SenderRegistryCache(new SenderNamesRepository(db));
  }

  start(): void {
    this.#stopped = false;
    const loop = () => {
      if (this.#stopped) return;
      this.#ticking = this.tick()
        .catch((err: unknown) => this.#log.error({ err }, 'the mailing runner failed a pass'))
        .finally(() => {
          this.#ticking = null;
          // A pass that had more to send goes again at once; otherwise after the poll interval.
          if (!this.#stopped) this.#timer = setTimeout(loop, this.#busy ? 0 : this.#pollMs);
        });
    };
    this.#timer = setTimeout(loop, 0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#ticking;
    // What it knew of each run (cursor, tokens) is stale once it stops: another node may lead meanwhile. A start reads it afresh.
    this.#states.clear();
  }

  #busy = false;

  /** One pass: start the due runs, send one page of each running mailing within its throttle, check error shares. */
  async tick(): Promise<void> {
    const now = this.#now();
    this.#busy = false;
    // Mailings switched off (docs/modules.md): running ones hold where they are, due ones wait.
    if (this.#modules && !(await this.#modules.enabled('mailings'))) return;
    for (const m of await this.#mailings.due(now, 100)) {
      // The run's audience size, for the statistics: one COUNT for a list or the whole project; a segment's is known at the run's end.
      const audience = m.segment_id ? null : await audienceCount(this.#db, { accountId: m.account_id, projectId: m.project_id, listId: m.list_id, filter: null });
      if (await this.#mailings.startRun(m, now, audience)) this.#log.info({ mailing: m.id, run: (m.run_number ?? 0) + 1, audience }, 'mailing run started');
    }
    const running = await this.#mailings.running(1000);
    const ids = new Set(running.map((m) => m.id));
    for (const id of this.#states.keys()) if (!ids.has(id)) this.#states.delete(id);
    for (const m of running) {
      try {
        if (await this.#step(m, now)) this.#busy = true;
      } catch (err) {
        this.#states.delete(m.id);
        if (!(err instanceof MailingNotRunningError)) this.#log.error({ err, mailing: m.id }, 'a mailing page failed; it is read again from the store');
      }
    }
  }

  async #state(m: MailingRow, now: number): Promise<RunState> {
    const run = m.run_number ?? 0;
    let state = this.#states.get(m.id);
    if (state && state.run === run) return state;
    const errors = await this.#mailings.countMessages(m.account_id, m.id, MAILING_ERROR_STATUSES);
    state = {
      run,
      cursor: await this.#mailings.cursor(m.id, run),
      tokens: m.throttle_per_minute === null ? 0 : Math.max(1, m.throttle_per_minute / 60),
      refilledAt: now,
      exhausted: false,
      baseErrors: Object.values(errors).reduce((a, b) => a + b, 0),
      acceptedSince: 0,
      checkedAt: now,
    };
    this.#states.set(m.id, state);
    return state;
  }

  /** One page of one running mailing. Returns whether it has more to send at once. */
  async #step(m: MailingRow, now: number): Promise<boolean> {
    const state = await this.#state(m, now);
    if (await this.#checkErrors(m, state, now)) return false;
    let budget = this.#pageSize;
    if (m.throttle_per_minute !== null) {
      state.tokens = refill(state.tokens, now - state.refilledAt, m.throttle_per_minute);
      state.refilledAt = now;
      budget = Math.min(budget, Math.floor(state.tokens));
      if (budget < 1) return false;
    }
    const account = await this.#accounts.getAccount(m.account_id);
    const perChannel = parseMailingTemplates(m.templates);
    const ids = mailingTemplateIds(m.template_id, perChannel);
    const found = await this.#templates.getMany(m.account_id, ids);
    const project = await this.#db.selectFrom('projects').select('code').where('account_id', '=', m.account_id).where('id', '=', m.project_id).executeTakeFirst();
    if (!account || found.size < ids.length || !project) {
      this.#log.error({ mailing: m.id }, 'a mailing names an account, template or project that is gone; it is cancelled');
      // As a user's cancel: its messages not sent yet are cancelled after it, from this cursor (MailingCanceller picks it up).
      await this.#mailings.transition(m.account_id, m.id, 'cancel', now, { cancel_cursor: '' });
      return false;
    }
    const segment = m.segment_id ? await this.#segments.get(m.account_id, m.segment_id) : undefined;
    // A full page is read whatever the budget: contacts filtered out or skipped cost none of it, so a throttled run
    // does not wait a whole poll for each page of them; the page stops being built once the budget is spent.
    const page = await audiencePage(this.#db, { accountId: m.account_id, projectId: m.project_id, listId: m.list_id, filter: segment?.filter ?? null }, state.cursor, this.#pageSize);
    const { job, processed } = await this.#page(m, account, (channel) => found.get(templateIdFor(m.template_id, perChannel, channel))!, project.code, page.contacts, state.run, now, budget);
    if (job.mailing!.recipients.length > 0) {
      try {
        await this.#accept(job);
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'insufficient_balance') throw err;
        // The balance does not cover this page (a page is reserved whole): the mailing waits, paused, for a top-up.
        const paused = await this.#mailings.transition(m.account_id, m.id, 'pause', now, { paused_reason: 'insufficient_balance' });
        if (paused.ok) this.#log.warn({ mailing: m.id, account: m.account_id }, 'mailing paused: the balance does not cover its next page');
        this.#states.delete(m.id);
        return false;
      }
      // One message per recipient given one (a cascade's parent and first step are one recipient's).
      const accepted = job.mailing!.recipients.reduce((n, r) => n + (r.status === 'accepted' ? 1 : 0), 0);
      state.tokens -= accepted;
      state.acceptedSince += accepted;
    }
    // Stopped inside the page (the budget spent): it resumes after the last contact it went through (any filtered-out
    // contacts between are read again, and filtered out again). Otherwise after the page.
    const whole = processed === page.contacts.length;
    state.cursor = whole ? page.lastId : page.contacts[processed - 1]!.id;
    if (whole && page.done) {
      await this.#endRun(m, now);
      this.#states.delete(m.id);
      return false;
    }
    // Unthrottled, or the bucket still holds a message's worth (the page ran out first, or a slow pass): the next page at once.
    return m.throttle_per_minute === null || state.tokens >= 1;
  }

  /**
   * The page's messages, cascades and recipient rows. Each contact's steps
   * are the mailing's channels, in order, that the channel is supported on,
   * the contact did not refuse and has an address for; one step is a plain
   * message as before, several a cascade (the parent, free, is the recipient's
   * message; its first step is due when the message would have been). Each
   * step renders its channel's template (`templateOf`); a step whose template
   * does not render for the contact is left out, like one that fails its
   * check as a message. A contact with no usable channel is skipped for the
   * first channel's reason; one whose every step failed, for the first step's.
   * It stops once `budget` contacts were given a message; `processed` is how
   * many of `contacts` it went through.
   */
  async #page(m: MailingRow, account: Account, templateOf: (channel: string) => TemplateRow, projectCode: string, contacts: Contact[], run: number, now: number, budget: number): Promise<{ job: AcceptJob; processed: number }> {
    const channels = JSON.parse(m.channels) as string[];
    const timeoutSeconds = m.step_timeout_seconds ?? DEFAULT_STEP_TIMEOUT_SECONDS;
    const until = (m.step_until ?? DEFAULT_STEP_UNTIL) as CascadeUntil;
    // A mailing's messages carry no callback_url, so the callback address rule never applies: the configuration's default stands in.
    const context = await acceptContext(account, { mno: this.#operators, senderRegistry: this.#registries, billing: this.#billing, modules: this.#modules, config: { webhooks: { allowPrivateAddresses: false } } });
    const scheduleZone = m.time_zone ?? account.time_zone;
    const localTime = m.local_time === 1;
    const nominal = nominalOfRun(m.next_run_at ?? m.start_at ?? now, scheduleZone, localTime);
    const quiet = account.quiet_hours_start !== null && account.quiet_hours_end !== null ? { start: account.quiet_hours_start, end: account.quiet_hours_end } : null;
    const params = mailingParams(m);
    const messages: AcceptJob['messages'] = [];
    const cascades: CascadeRow[] = [];
    const recipients: MailingRecipientsTable[] = [];
    const skip = (c: Contact, reason: SkipReason) => recipients.push({ mailing_id: m.id, run_number: run, contact_id: c.id, account_id: m.account_id, message_id: null, status: 'skipped', reason, created_at: now });
    let given = 0;
    let processed = 0;
    for (const c of contacts) {
      // The budget is of messages (recipients given one): the contacts after the one that spent it wait for the next pass.
      if (given >= budget) break;
      processed++;
      if (c.blocked) { skip(c, 'blocked'); continue; }
      const usable: { channel: Channel; to: string }[] = [];
      let firstReason: SkipReason | null = null;
      for (const channel of channels) {
        const to = addressFor(c, channel);
        const reason = channelProblem(c, channel, to);
        if (reason === null) usable.push({ channel: channel as Channel, to: to! });
        else firstReason ??= reason;
      }
      if (usable.length === 0) { skip(c, firstReason ?? 'channel_unsupported'); continue; }
      const texts = stepTexts(usable, templateOf, contactFields(c), params);
      // The recipient's zone: the contact's, else the region of the first step's number (an e-mail address has none).
      const numbered = usable.find((u) => u.channel !== 'email');
      const region = !numbered || !this.#operators ? null : (this.#operators.lookup(numbered.to.replace(/^\+/, ''))?.region ?? null);
      const recipientZone = c.time_zone ?? timeZoneOfRegion(region) ?? account.time_zone;
      const due = recipientDueAt({ now, nominal, timeZone: scheduleZone, localTime, recipientZone, quiet });
      // Each step is checked as a message of its channel; one that fails (a WhatsApp step without a content template, say) is left out.
      const steps: PreparedStep[] = [];
      let firstError: string | null = null;
      for (const [i, { channel, to }] of usable.entries()) {
        const rendered = texts[i]!;
        if (!rendered.ok) { firstError ??= 'template_render_failed'; continue; }
        const prepared = prepareMessage(
          account,
          {
            channel,
            to,
            text: rendered.text,
            ...(m.sender ? { from: m.sender } : {}),
            traffic_type: (m.traffic_type ?? 'advertising') as 'advertising',
            project: projectCode,
            reference: m.id,
            ...(due > now ? { send_at: new Date(due).toISOString() } : {}),
            ...(channel === 'email' ? { subject: m.name } : {}),
          },
          now,
          null,
          // Quiet hours were applied in the recipient's zone above; prepareMessage applies them in the same zone (a no-op then), not again in another.
          { ...context, recipientZone },
        );
        if (prepared.ok) steps.push({ row: prepared.row, until, timeout_seconds: timeoutSeconds, connector: null, time_zone: recipientZone });
        else firstError ??= prepared.error.code;
      }
      if (steps.length === 0) { skip(c, firstError!); continue; }
      // Only the recipient's own message (the plain message, or the cascade's parent) carries the mailing: statistics count each recipient once.
      let own: MessageRow;
      if (steps.length === 1) {
        own = { ...steps[0]!.row, mailing_id: m.id };
        messages.push(own);
      } else {
        steps.at(-1)!.timeout_seconds = null;
        const built = cascadeOf(m.account_id, steps, now, null);
        own = { ...built.parent, mailing_id: m.id };
        messages.push(own, built.first);
        cascades.push(built.cascade);
      }
      recipients.push({ mailing_id: m.id, run_number: run, contact_id: c.id, account_id: m.account_id, message_id: own.id, status: 'accepted', reason: null, created_at: now });
      given++;
    }
    return { job: { messages, ...(cascades.length > 0 ? { cascades } : {}), mailing: { mailingId: m.id, runNumber: run, recipients } }, processed };
  }

  /**
   * The audience is exhausted: a recurring mailing waits for its next run, any
   * other is finished. The run's audience size becomes what the run went
   * through (a segment's is known only now; a list's may have changed while it ran).
   */
  async #endRun(m: MailingRow, now: number): Promise<void> {
    const through = await this.#mailings.countRecipients(m.account_id, m.id, m.run_number ?? 0);
    const audience = { audience_size: through.accepted + through.skipped };
    if (m.schedule_cron) {
      const account = await this.#accounts.getAccount(m.account_id);
      const zone = m.time_zone ?? account?.time_zone ?? 'UTC';
      const localTime = m.local_time === 1;
      // The next occurrence after this run's nominal time and after now: a run that overran skips what it overran.
      const after = Math.max(nominalOfRun(m.next_run_at ?? now, zone, localTime), now);
      const next = nextCronOccurrence(m.schedule_cron, zone, after);
      await this.#mailings.transition(m.account_id, m.id, 'rearm', now, { next_run_at: runStartFor(next, zone, localTime), ...audience });
      this.#log.info({ mailing: m.id, run: m.run_number, next }, 'mailing run finished; the next is scheduled');
    } else {
      await this.#mailings.transition(m.account_id, m.id, 'finish', now, audience);
      this.#log.info({ mailing: m.id, recipients: audience.audience_size }, 'mailing finished');
    }
  }

  /** Pauses the mailing when the errors since this state began pass its threshold. Returns whether it paused. */
  async #checkErrors(m: MailingRow, state: RunState, now: number): Promise<boolean> {
    if (now - state.checkedAt < this.#errorCheckMs) return false;
    state.checkedAt = now;
    const counts = await this.#mailings.countMessages(m.account_id, m.id, [...MAILING_ERROR_STATUSES, ...MAILING_OPEN_STATUSES]);
    const errors = MAILING_ERROR_STATUSES.reduce((sum, s) => sum + (counts[s] ?? 0), 0) - state.baseErrors;
    const open = MAILING_OPEN_STATUSES.reduce((sum, s) => sum + (counts[s] ?? 0), 0);
    // Finished since: what was accepted since, less what is still open (old open messages make this err low).
    const finished = Math.max(0, state.acceptedSince - open);
    const threshold = m.error_threshold_percent ?? DEFAULT_ERROR_THRESHOLD_PERCENT;
    const minSample = m.error_min_sample ?? DEFAULT_ERROR_MIN_SAMPLE;
    if (!overErrorThreshold(errors, finished, threshold, minSample)) return false;
    const paused = await this.#mailings.transition(m.account_id, m.id, 'pause', now, { paused_reason: 'error_threshold' });
    if (paused.ok) this.#log.warn({ mailing: m.id, errors, finished, threshold }, 'mailing paused: its errors passed the threshold');
    this.#states.delete(m.id);
    return true;
  }
}

/**
 * When a mailing being scheduled starts its first run: at `start_at` (for a
 * local-time mailing, when that wall-clock time first comes anywhere), or at
 * the first cron occurrence from `start_at` or now. Null when it has neither.
 */
export function firstRunAt(m: Pick<MailingRow, 'start_at' | 'schedule_cron' | 'time_zone' | 'local_time'>, accountTimeZone: string, now: number): number | null {
  const zone = m.time_zone ?? accountTimeZone;
  const localTime = m.local_time === 1;
  if (m.schedule_cron) return runStartFor(nextCronOccurrence(m.schedule_cron, zone, Math.max(now, m.start_at ?? now) - 1), zone, localTime);
  if (m.start_at === null) return null;
  return runStartFor(m.start_at, zone, localTime);
}
