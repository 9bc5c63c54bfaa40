import net from 'node:net';
import type { Config } from '../../config.ts';
import { ipAllowed } from '../../domain/ip-ranges.ts';
import { ApiError } from '../../errors.ts';
import type { EventBus } from '../../events/bus.ts';
import type { Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';
import { acceptContext, prepareMessage, type SendRequest } from '../../pipeline/accept.ts';
import type { SenderRegistryCache } from '../../pipeline/policy.ts';
import type { AcceptBilling } from '../../pipeline/billing.ts';
import type { Delivery } from '../../pipeline/delivery.ts';
import { decodeText, inboundBody, type ConcatInfo } from '../../smpp/concat.ts';
import { CommandStatus } from '../../smpp/pdu.ts';
import { acceptBind, leastBusy, type IncomingRequest, type Reply, type SmppSession } from '../../smpp/session.ts';
import { formatSmppTime, parseSmppTime } from '../../smpp/time.ts';
import { verifyPassword, type Account, type AccountsRepository } from '../../store/accounts.ts';
import type { OperatorLookup } from '../../sms/mno.ts';
import type { Database } from '../../store/db.ts';
import { SmppCredentialsRepository, type SmppCredentialRow } from '../../store/smpp-credentials.ts';
import type { CustomerLeases, FeedHooks } from '../../cluster/smpp-customers.ts';
import type { ModuleSwitches } from '../../store/modules.ts';
import { operatorErrorCode, ReceiptSender } from './receipts.ts';

export interface SmppServerDeps {
  config: Config;
  log: Logger;
  database: Database;
  accounts: AccountsRepository;
  delivery: Pick<Delivery, 'accept' | 'cancel'>;
  bus: EventBus;
  metrics: Metrics;
  /** each account's registered sender names, checked at accept */
  senderRegistry: SenderRegistryCache;
  /** prices and approved templates at accept (pipeline/billing.ts) */
  billing?: AcceptBilling | undefined;
  /** the recipient's operator at accept time */
  mno: OperatorLookup;
  /** the platform's module switches: `smpp_server` off refuses new binds, `sms` off refuses submits */
  modules?: ModuleSwitches | undefined;
}

/** The API error codes of prepareMessage, as SMPP command_status. */
const STATUS_FOR_ERROR: Record<string, number> = {
  invalid_phone_number: CommandStatus.ESME_RINVDSTADR,
  invalid_sender: CommandStatus.ESME_RINVSRCADR,
  sender_not_allowed: CommandStatus.ESME_RINVSRCADR,
  empty_text: CommandStatus.ESME_RINVMSGLEN,
  text_too_long: CommandStatus.ESME_RINVMSGLEN,
  invalid_send_at: CommandStatus.ESME_RINVSCHED,
};

/** message_state for query_sm, from our status. */
const MESSAGE_STATE: Record<string, number> = {
  accepted: 1,
  queued: 1,
  sent: 1,
  delivered: 2,
  read: 2,
  expired: 3,
  cancelled: 4,
  undelivered: 5,
  rejected: 8,
  failed: 8,
};

/** One customer login with its live binds, submit rate and receipt feed. */
interface Customer {
  credential: SmppCredentialRow;
  /** the account as last read: read again when older than ACCOUNT_TTL_MS, so a bind follows changed settings */
  account: Account;
  accountReadAt: number;
  accountReading: Promise<void> | null;
  sessions: Set<SmppSession>;
  /** binds let through by authenticate() and not yet among `sessions` (acceptBind answers first): they count for max_binds, and the customer is kept */
  binding: number;
  /** submits in the current second, for max_submits_per_second */
  second: number;
  submitsThisSecond: number;
  receipts: ReceiptSender;
  /** what the cluster's feed lease asks of this login on this node */
  feed: FeedHooks;
  /** parts of long submits waiting for the rest */
  pending: Map<string, PendingLong>;
}

interface PendingLong {
  firstAt: number;
  total: number;
  /** text of each part by its number, and the answer each part waits for */
  parts: Map<number, { text: string; answer: (reply: Reply) => void; request: SubmitSm; session: SmppSession }>;
}

type SubmitSm = Extract<IncomingRequest, { command: 'submit_sm' }>;

/** A receiver or transceiver bind: receipts may go to it. */
const receives = (session: SmppSession) => session.bind?.mode !== 'transmitter';

/**
 * How long a bind goes by the account settings it read (time zone, quiet
 * hours, sender policy) before reading them again: a change made through the
 * API applies to live binds within this time, on every node.
 */
const ACCOUNT_TTL_MS = 10_000;

/** How long the parts of a long submit wait for the rest before each is refused. */
const LONG_SUBMIT_TIMEOUT_MS = 30_000;

/**
 * The SMPP server for customers. A bind is checked against the account's SMPP
 * credentials (password, allowed addresses, number of binds); `submit_sm`
 * goes through the same preparation and accept pipeline as the HTTP API, and
 * `submit_sm_resp` carries our message id only after the message is stored.
 * Receipts go back as `deliver_sm` on a receiver or transceiver bind, read in
 * order from the stored status events, so they wait while no such bind exists.
 * In a cluster (REDIS_URL) `max_binds` is counted across the smpp nodes and
 * one node at a time sends a login's receipts (cluster/smpp-customers.ts).
 */
export class SmppServer {
  readonly #deps: SmppServerDeps;
  readonly #credentials: SmppCredentialsRepository;
  readonly #server: net.Server;
  readonly #customers = new Map<string, Customer>();
  readonly #sockets = new Set<net.Socket>();
  #timer: NodeJS.Timeout | undefined;
  #ticks = 0;
  #offStatus: (() => void) | undefined;
  /** the binds and receipt feeds of the cluster's smpp nodes (absent in the embedded process) */
  #leases: CustomerLeases | undefined;
  #closeRedis: (() => Promise<void>) | undefined;
  /** close() has begun: no new binds */
  #closing = false;

  constructor(deps: SmppServerDeps) {
    this.#deps = deps;
    this.#credentials = new SmppCredentialsRepository(deps.database.db);
    this.#server = net.createServer((socket) => void this.#accept(socket));
  }

  async listen(): Promise<number> {
    const { port, host } = this.#deps.config.smpp;
    const { redisUrl, redisPrefix, bindLeaseMs } = this.#deps.config;
    if (redisUrl !== undefined) {
      // Loaded only in a cluster: the embedded process never loads ioredis.
      const [{ connectRedis }, { CustomerLeases }] = await Promise.all([import('../../cluster/redis.ts'), import('../../cluster/smpp-customers.ts')]);
      const redis = connectRedis(redisUrl, 'depesha-smpp');
      redis.on('error', (err) => this.#deps.log.warn({ err }, 'Redis connection error'));
      this.#closeRedis = () => redis.quit().then(() => {}, () => redis.disconnect());
      this.#leases = new CustomerLeases(redis, redisPrefix, this.#deps.log.child({ component: 'smpp-leases' }), { ttlMs: bindLeaseMs });
      this.#leases.start();
    }
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => resolve());
    }).catch(async (err: unknown) => {
      await this.#leases?.stop();
      await this.#closeRedis?.();
      throw err;
    });
    // Status changes wake the receipt feeds of the accounts they belong to; a timer catches the rest.
    this.#offStatus = this.#deps.bus.onStatus((changes) => {
      const accounts = new Set(changes.map((c) => c.accountId));
      for (const customer of this.#customers.values()) if (accounts.has(customer.account.id)) customer.receipts.wake();
    });
    this.#timer = setInterval(() => this.#tick(), 1000);
    this.#timer.unref();
    return this.port;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /**
   * Stops gracefully: the port closes and binds still arriving are refused
   * (ESME_RBINDFAIL); every bind is unbound (SmppSession.unbind()): the
   * submits already being stored are answered first, submits arriving from
   * then on are answered ESME_RTHROTTLED unstored, and parts of long messages
   * waiting for their siblings too, so that no submit is stored without its
   * answer reaching the customer, who sends the refused ones again on another
   * node. Then the receipt feeds and the binds' places (cluster) are given up.
   */
  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#timer);
    this.#offStatus?.();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    // A bind that authenticate() let through just before #closing was set reaches its customer's sessions within one
    // turn of the event loop (acceptBind resolves on setImmediate): wait that turn, so that it is unbound with the rest.
    await new Promise((resolve) => setImmediate(resolve));
    const sessions = [...this.#customers.values()].flatMap((c) => [...c.sessions]);
    const handling = sessions.reduce((n, s) => n + s.incomingInFlight, 0);
    this.#deps.log.info({ binds: sessions.length, handling }, 'SMPP server stopping: answering the requests being handled, then unbinding every bind');
    const unbound = Promise.all(sessions.map((s) => s.unbind().catch(() => {})));
    for (const customer of this.#customers.values()) {
      for (const pending of customer.pending.values()) for (const part of pending.parts.values()) part.answer({ command: 'submit_sm_resp', status: CommandStatus.ESME_RTHROTTLED });
      customer.pending.clear();
    }
    await unbound;
    for (const customer of this.#customers.values()) await customer.receipts.stop();
    await this.#leases?.stop();
    await this.#closeRedis?.();
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  async #accept(socket: net.Socket): Promise<void> {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    let customer: Customer | undefined;
    /** this bind's place among the login's max_binds in the cluster */
    let place: { credentialId: string; token: string } | undefined;
    let session: SmppSession;
    try {
      session = await acceptBind(socket, {
        systemId: 'depesha',
        windowSize: 100,
        maxIncomingInFlight: 1000,
        onRequest: (request, s) => (customer ? this.#onRequest(customer, request, s) : undefined),
        authenticate: async (bind, s) => {
          if (this.#closing) return CommandStatus.ESME_RBINDFAIL;
          if (this.#deps.modules && !(await this.#deps.modules.enabled('smpp_server'))) {
            this.#deps.log.warn({ systemId: bind.systemId, address: s.remoteAddress }, 'SMPP bind refused: the smpp_server module is switched off (GET /v1/modules)');
            return CommandStatus.ESME_RBINDFAIL;
          }
          const credential = await this.#credentials.findBySystemId(bind.systemId);
          if (!credential) return CommandStatus.ESME_RINVSYSID;
          if (!(await verifyPassword(bind.password, credential.password_hash))) return CommandStatus.ESME_RINVPASWD;
          if (!ipAllowed(s.remoteAddress ?? '', JSON.parse(credential.allowed_ips) as string[])) {
            this.#deps.log.warn({ systemId: bind.systemId, address: s.remoteAddress }, 'SMPP bind from an address outside allowed_ips');
            return CommandStatus.ESME_RBINDFAIL;
          }
          const account = await this.#deps.accounts.getAccount(credential.account_id);
          if (!account) return CommandStatus.ESME_RINVSYSID;
          if (this.#leases) {
            const taken = await this.#leases.takeBind(credential.id, credential.max_binds);
            if (taken === null) return CommandStatus.ESME_RBINDFAIL;
            place = { credentialId: credential.id, token: taken };
          }
          // Read after the last await: a bind of the same login at the same moment may have made the customer meanwhile.
          const existing = this.#customers.get(credential.id);
          if (!this.#leases && existing && existing.sessions.size + existing.binding >= credential.max_binds) return CommandStatus.ESME_RBINDFAIL;
          if (this.#closing) {
            if (place !== undefined) this.#leases?.dropBind(place.credentialId, place.token);
            place = undefined;
            return CommandStatus.ESME_RBINDFAIL; // the customer binds to another node
          }
          customer = existing ?? this.#customer(credential, account);
          customer.binding++;
          return CommandStatus.ESME_ROK;
        },
      });
    } catch {
      if (customer) customer.binding--;
      if (place !== undefined) this.#leases?.dropBind(place.credentialId, place.token);
      return; // refused, timed out or gone; acceptBind has closed the socket
    }
    if (!customer) return void session.close();
    customer.binding--;
    // The tick keeps a customer with a bind on the way, so this is the live one; never a stopped one all the same.
    if (customer.receipts.stopped) {
      if (this.#closing) {
        if (place !== undefined) this.#leases?.dropBind(place.credentialId, place.token);
        return void session.close(); // close() has stopped the feeds: the customer binds to another node
      }
      customer = this.#customers.get(customer.credential.id) ?? this.#customer(customer.credential, customer.account);
    }
    const c = customer;
    const p = place;
    c.sessions.add(session);
    this.#deps.log.info({ systemId: c.credential.system_id, mode: session.bind?.mode, address: session.remoteAddress }, 'SMPP customer bound');
    session.on('close', (info) => {
      c.sessions.delete(session);
      if (p !== undefined) this.#leases?.dropBind(p.credentialId, p.token);
      // The last receiving bind here gone: the feed is given up at once for a node that still has one.
      if (receives(session)) this.#leases?.nudge();
      this.#deps.log.info({ systemId: c.credential.system_id, reason: info.reason }, 'SMPP customer session closed');
    });
    if (!receives(session)) return;
    this.#leases?.nudge(); // takes the login's feed if no node holds it
    c.receipts.wake();
  }

  #customer(credential: SmppCredentialRow, account: Account): Customer {
    const customer: Customer = {
      credential,
      account,
      accountReadAt: Date.now(),
      accountReading: null,
      sessions: new Set(),
      binding: 0,
      second: 0,
      submitsThisSecond: 0,
      pending: new Map(),
      feed: {
        receiving: () => leastBusy(customer.sessions, receives) !== undefined,
        idle: () => customer.receipts.idle(),
        led: () => customer.receipts.wake(),
      },
      receipts: new ReceiptSender({
        db: this.#deps.database.db,
        credential,
        log: this.#deps.log.child({ component: 'smpp-receipts', systemId: credential.system_id }),
        // In a cluster only the node leading the login's feed sends its receipts.
        receiver: () => (this.#leases && !this.#leases.leads(credential.id) ? undefined : leastBusy(customer.sessions, receives)),
      }),
    };
    this.#customers.set(credential.id, customer);
    this.#leases?.watch(credential.id, customer.feed);
    return customer;
  }

  async #onRequest(customer: Customer, request: IncomingRequest, session: SmppSession): Promise<Reply | void> {
    switch (request.command) {
      case 'submit_sm':
        if (session.bind?.mode === 'receiver') return { command: 'submit_sm_resp', status: CommandStatus.ESME_RINVBNDSTS };
        return this.#onSubmit(customer, request, session);
      case 'query_sm':
        return this.#onQuery(customer, request.messageId);
      case 'cancel_sm': {
        // The delivery thread cancels (it is the one writer of messages) and puts the change on the bus.
        const result = await this.#deps.delivery.cancel(customer.account.id, request.messageId).catch((err: unknown) => {
          this.#deps.log.error({ err, systemId: customer.credential.system_id }, 'cancel_sm failed');
          return undefined;
        });
        if (result === undefined) return { command: 'cancel_sm_resp', status: CommandStatus.ESME_RSYSERR };
        if (result.outcome !== 'cancelled') return { command: 'cancel_sm_resp', status: CommandStatus.ESME_RCANCELFAIL };
        return { command: 'cancel_sm_resp' };
      }
      case 'bind_receiver':
      case 'bind_transmitter':
      case 'bind_transceiver':
        return { command: `${request.command}_resp`, status: CommandStatus.ESME_RALYBND };
      case 'outbind':
      case 'alert_notification':
        return;
      default:
        return { command: 'generic_nack', status: CommandStatus.ESME_RINVCMDID };
    }
  }

  async #onSubmit(customer: Customer, request: SubmitSm, session: SmppSession): Promise<Reply> {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (customer.second !== second) {
      customer.second = second;
      customer.submitsThisSecond = 0;
    }
    if (++customer.submitsThisSecond > customer.credential.max_submits_per_second) return { command: 'submit_sm_resp', status: CommandStatus.ESME_RTHROTTLED };

    const { concat, body } = inboundBody({ esmClass: request.esmClass, shortMessage: request.shortMessage, tlvs: request.tlvs });
    const text = decodeText(body, request.dataCoding);
    if (text === null) return { command: 'submit_sm_resp', status: CommandStatus.ESME_RSUBMITFAIL } // SMPP 3.4 has no code for an unknown data_coding;
    if (!concat || concat.total <= 1) return this.#store(customer, request, text, now);
    return this.#collect(customer, request, concat, text, now, session);
  }

  /**
   * A part of a long message: kept until every part is there, then the whole
   * text is stored as one message and every part is answered with its id.
   */
  #collect(customer: Customer, request: SubmitSm, concat: ConcatInfo, text: string, now: number, session: SmppSession): Promise<Reply> {
    const key = `${request.sourceAddr}\0${request.destinationAddr}\0${concat.ref}\0${concat.total}`;
    let pending = customer.pending.get(key);
    if (!pending) {
      pending = { firstAt: now, total: concat.total, parts: new Map() };
      customer.pending.set(key, pending);
    }
    const p = pending;
    return new Promise<Reply>((resolve) => {
      const earlier = p.parts.get(concat.seq);
      // A part sent again replaces the first copy; the first copy's submit gets the answer too.
      const answer = earlier ? (r: Reply) => (earlier.answer(r), resolve(r)) : resolve;
      p.parts.set(concat.seq, { text, answer, request, session });
      if (p.parts.size < p.total) return;
      customer.pending.delete(key);
      const parts = [...p.parts.entries()].sort((a, b) => a[0] - b[0]);
      const whole = parts.map(([, part]) => part.text).join('');
      void this.#store(customer, parts[0]![1].request, whole, Date.now())
        .catch((err: unknown): Reply => {
          // As for a single submit (the session answers a handler's failure so): temporary, the customer sends again.
          this.#deps.log.error({ err, systemId: customer.credential.system_id }, 'storing a long SMPP submit failed');
          return { command: 'submit_sm_resp', status: CommandStatus.ESME_RSYSERR };
        })
        .then((reply) => {
          for (const [, part] of parts) part.answer(reply);
        });
    });
  }

  /** An account's settings changed on this node: its live binds take them now (other nodes within ACCOUNT_TTL_MS). */
  accountChanged(account: Account): void {
    for (const customer of this.#customers.values()) {
      if (customer.account.id !== account.id) continue;
      customer.account = account;
      customer.accountReadAt = Date.now();
    }
  }

  /** Reads the customer's account again (once for all submits that find it stale); on failure the one read before goes on. */
  #readAccount(customer: Customer, now: number): Promise<void> {
    customer.accountReading ??= this.#deps.accounts
      .getAccount(customer.account.id)
      .then((account) => {
        if (account) customer.account = account;
        customer.accountReadAt = now;
      })
      .catch((err: unknown) => this.#deps.log.warn({ err, account: customer.account.id }, 'reading the account for an SMPP bind failed; its last settings apply'))
      .finally(() => (customer.accountReading = null));
    return customer.accountReading;
  }

  async #store(customer: Customer, request: SubmitSm, text: string, now: number): Promise<Reply> {
    const schedule = parseSmppTime(request.scheduleDeliveryTime, now);
    if (!schedule.ok) return { command: 'submit_sm_resp', status: CommandStatus.ESME_RINVSCHED };
    const validity = parseSmppTime(request.validityPeriod, now);
    if (!validity.ok) return { command: 'submit_sm_resp', status: CommandStatus.ESME_RINVEXPIRY };
    const start = Math.max(now, schedule.at ?? now);
    const body: SendRequest = {
      // An international number may come without its "+"; TON 1 says it is one.
      to: request.destAddrTon === 1 && !request.destinationAddr.startsWith('+') ? `+${request.destinationAddr}` : request.destinationAddr,
      text,
      ...(request.sourceAddr ? { from: request.sourceAddr } : {}),
      ...(schedule.at !== undefined && schedule.at > now ? { send_at: new Date(schedule.at).toISOString() } : {}),
      ...(validity.at !== undefined ? { ttl_seconds: Math.min(604800, Math.max(30, Math.round((validity.at - start) / 1000))) } : {}),
    };
    if (now - customer.accountReadAt >= ACCOUNT_TTL_MS) await this.#readAccount(customer, now);
    const prepared = prepareMessage(customer.account, body, now, null, await acceptContext(customer.account, this.#deps));
    if (!prepared.ok) return { command: 'submit_sm_resp', status: STATUS_FOR_ERROR[prepared.error.code] ?? CommandStatus.ESME_RSUBMITFAIL };
    const row = prepared.row;
    try {
      await this.#deps.delivery.accept({
        messages: [row],
        smppSubmits: [
          {
            message_id: row.id,
            account_id: customer.account.id,
            credential_id: customer.credential.id,
            registered_delivery: request.registeredDelivery & 0x03,
            source_addr: request.sourceAddr,
            destination_addr: request.destinationAddr,
          },
        ],
      });
    } catch (err) {
      // Refused by a rule checked when storing (insufficient_balance): final, not a system error.
      if (err instanceof ApiError) return { command: 'submit_sm_resp', status: STATUS_FOR_ERROR[err.code] ?? CommandStatus.ESME_RSUBMITFAIL };
      this.#deps.log.error({ err, systemId: customer.credential.system_id }, 'storing an SMPP submit failed');
      return { command: 'submit_sm_resp', status: CommandStatus.ESME_RSYSERR }; // temporary: the customer retries
    }
    this.#deps.metrics.messagesAccepted.inc();
    return { command: 'submit_sm_resp', messageId: row.id };
  }

  async #onQuery(customer: Customer, messageId: string): Promise<Reply> {
    const row = await this.#deps.database.db
      .selectFrom('messages')
      .select(['status', 'completed_at', 'provider_code'])
      .where('account_id', '=', customer.account.id)
      .where('id', '=', messageId)
      .executeTakeFirst();
    if (!row) return { command: 'query_sm_resp', status: CommandStatus.ESME_RQUERYFAIL };
    return {
      command: 'query_sm_resp',
      messageId,
      finalDate: row.completed_at === null ? '' : formatSmppTime(row.completed_at),
      messageState: MESSAGE_STATE[row.status] ?? 7,
      errorCode: Math.min(255, operatorErrorCode(row.provider_code) ?? 0),
    };
  }

  /** Closes the binds of credentials revoked since they bound. */
  async #dropRevoked(): Promise<void> {
    const ids = [...this.#customers.keys()];
    if (ids.length === 0) return;
    const live = new Set((await this.#deps.database.db.selectFrom('smpp_credentials').select('id').where('id', 'in', ids).where('revoked_at', 'is', null).execute()).map((r) => r.id));
    for (const [id, customer] of this.#customers) {
      if (live.has(id)) continue;
      this.#deps.log.info({ systemId: customer.credential.system_id }, 'SMPP credentials revoked; closing their binds');
      for (const session of customer.sessions) void session.unbind().catch(() => {});
    }
  }

  /** Once a second: refuse long submits whose parts stopped coming or whose bind is going; drop customers with no binds and nothing to send; every 5 s, close binds of revoked credentials. */
  #tick(): void {
    if (++this.#ticks % 5 === 0) void this.#dropRevoked().catch((err: unknown) => this.#deps.log.error({ err }, 'checking for revoked SMPP credentials failed'));
    const now = Date.now();
    for (const [id, customer] of this.#customers) {
      for (const [key, pending] of customer.pending) {
        const late = now - pending.firstAt >= LONG_SUBMIT_TIMEOUT_MS;
        // A part's bind unbinding (its unbind_resp waits for the part's answer) or gone: the whole message is refused
        // unstored, "throttled", and the customer sends it again on another bind, as when the server stops.
        const unbound = [...pending.parts.values()].some((part) => part.session.state !== 'open');
        if (!late && !unbound) continue;
        customer.pending.delete(key);
        const status = late ? CommandStatus.ESME_RSUBMITFAIL : CommandStatus.ESME_RTHROTTLED;
        for (const part of pending.parts.values()) part.answer({ command: 'submit_sm_resp', status });
      }
      customer.receipts.wake();
      if (customer.sessions.size === 0 && customer.binding === 0 && customer.pending.size === 0) {
        this.#customers.delete(id);
        void customer.receipts.stop().then(() => this.#leases?.forget(id, customer.feed)).catch((err: unknown) => this.#deps.log.warn({ err }, 'giving up an SMPP receipt feed failed'));
      }
    }
  }
}
