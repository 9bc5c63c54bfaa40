import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { Config } from './config.ts';
import { EventBus } from './events/bus.ts';
import { LiveHub } from './events/live.ts';
import { buildApp } from './ingress/http/app.ts';
import type { HttpDeps } from './ingress/http/deps.ts';
import { SmppServer } from './ingress/smpp-server/server.ts';
import { createLogger, type Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import { startDelivery } from './pipeline/delivery.ts';
import { startDeliveryThread } from './pipeline/delivery-thread-handle.ts';
import { AccountsRepository, generateApiKey } from './store/accounts.ts';
import { SenderNamesRepository } from './store/sender-names.ts';
import { SenderRegistryCache } from './pipeline/policy.ts';
import type { AcceptBilling } from './pipeline/billing.ts';
import { BalanceRepository, PriceCache } from './store/balance.ts';
import { TemplateMatcherCache, TemplateRegistrationsRepository } from './store/templates.ts';
import { openDatabase, type Database } from './store/db.ts';
import { IdempotencyRepository } from './store/idempotency.ts';
import { MessagesRepository } from './store/messages.ts';
import { MnoCache, MnoRepository } from './store/mno.ts';
import { ModuleSwitches, ModulesRepository } from './store/modules.ts';

export interface Gateway {
  app: FastifyInstance;
  database: Database;
  bus: EventBus;
  /** the operator of a number: the registry and ported numbers in memory */
  mno: MnoCache;
  /** the live subscribers of the bus (open event streams) */
  live: LiveHub;
  /** the address it listens on, when it listens */
  url: string | undefined;
  /** the SMPP server's port, when it listens */
  smppPort: number | undefined;
  close(): Promise<void>;
}

export interface GatewayOptions {
  log?: Logger;
  /** false: build everything but do not open the port (tests use app.inject) */
  listen?: boolean;
  /** where the one-time bootstrap credentials are printed; stdout by default, never the log */
  print?: (text: string) => void;
  /** PostgreSQL schema (tests) */
  pgSchema?: string;
  /** how often the scheduler looks for due messages, default 250 ms */
  pollMs?: number;
  /** start the SMPP server even with `listen: false` (tests that speak SMPP) */
  smpp?: boolean;
  /** how often the operator registry's marker is checked for imports by other processes, default 5000 ms */
  mnoPollMs?: number;
  /** internal (tests): limits lowered from their defaults (HttpDeps.limits) */
  limits?: HttpDeps['limits'];
}

export interface BootstrapResult {
  accountId: string;
  apiKey: string;
  adminEmail: string;
  adminPassword: string;
}

/** On an empty database: an administrator and a demo account with one API key. */
export async function bootstrap(accounts: AccountsRepository, config: Config): Promise<BootstrapResult | undefined> {
  if ((await accounts.countAccounts()) > 0) return undefined;
  const account = await accounts.createAccount({ name: 'Demo', defaultRegion: config.defaults.region, defaultTtlSeconds: config.defaults.ttlSeconds, maxParts: config.defaults.maxParts });
  const apiKey = config.bootstrapApiKey ?? generateApiKey();
  // The installation's first key administers it too (connectors, routes); keys made later are account keys.
  await accounts.createApiKey(account.id, 'bootstrap', apiKey, { role: 'admin' });
  const adminEmail = config.bootstrapAdmin.email ?? 'admin@depesha.local';
  const adminPassword = config.bootstrapAdmin.password ?? randomBytes(12).toString('base64url');
  await accounts.createUser({ email: adminEmail, password: adminPassword, role: 'administrator', accountId: null });
  return { accountId: account.id, apiKey, adminEmail, adminPassword };
}

/**
 * Bootstraps in one transaction, so a crash halfway leaves nothing (not an
 * account without its administrator, which the next start would take for a set-up
 * installation). On PostgreSQL the transaction first takes an advisory lock
 * (pg_advisory_xact_lock, released by the commit or rollback): nodes of a
 * cluster starting together on an empty database wait for each other, and
 * the ones after the first find its account and make none.
 */
export async function bootstrapOnce(database: Database, config: Config): Promise<BootstrapResult | undefined> {
  return database.db.transaction().execute(async (trx) => {
    if (database.dialect === 'postgres') await sql`select pg_advisory_xact_lock(${BOOTSTRAP_LOCK})`.execute(trx);
    return bootstrap(new AccountsRepository(trx), config);
  });
}

/** the advisory lock key of the bootstrap ("dpsh" in ASCII) */
const BOOTSTRAP_LOCK = 0x64707368;

function bootstrapNotice(b: BootstrapResult): string {
  return [
    '',
    '  Depesha is set up. These credentials are shown once and never again:',
    `    administrator:  ${b.adminEmail}  /  ${b.adminPassword}`,
    `    demo account:   ${b.accountId}`,
    `    API key:        ${b.apiKey}`,
    '',
    '  Try:  curl -H "Authorization: Bearer <API key>" -H "Content-Type: application/json" \\',
    '          -d \'{"to":"+79161234567","text":"Hello"}\' http://localhost:8080/v1/messages',
    '',
  ].join('\n');
}

/**
 * Starts the embedded gateway in one process: the HTTP API on the main thread,
 * the delivery pipeline (dispatcher, sender, connectors, receipts, scheduler)
 * in a worker thread of its own, both on the same store. With REDIS_URL it is
 * one node of a cluster and runs only its roles (`config.roles`).
 */
export async function startGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const log = options.log ?? createLogger(config.logLevel);
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    sqlitePath: path.join(config.dataDir, 'depesha.sqlite'),
    sqliteSynchronous: config.sqlite.synchronous,
    ...(options.pgSchema ? { pgSchema: options.pgSchema } : {}),
  });
  const applied = await database.migrate({
    onNewer: (names) => log.warn({ migrations: names }, 'the database holds migrations of a newer release; this node runs on it without migrating (finish the upgrade: docs/deploy.md)'),
  });
  if (applied.length > 0) log.info({ migrations: applied }, 'migrations applied');
  const { db } = database;
  const accounts = new AccountsRepository(db);
  const boot = await bootstrapOnce(database, config);
  if (boot) log.info({ account: boot.accountId }, 'bootstrapped: the first account, its API key and an administrator');
  if (boot) (options.print ?? ((t: string) => process.stdout.write(t + '\n')))(bootstrapNotice(boot));

  const metrics = new Metrics();
  const bus = new EventBus();
  bus.onStatus((changes) => {
    for (const c of changes) metrics.statusChanges.inc({ status: c.status });
  });
  const delivery =
    config.pipeline === 'thread'
      ? await startDeliveryThread(config, bus, log, { pgSchema: options.pgSchema, pollMs: options.pollMs })
      : await startDelivery(db, database.dialect, config, bus, log, { pollMs: options.pollMs });

  // Accept runs here, in the main thread: it looks every recipient's operator up in memory.
  const mno = new MnoCache(new MnoRepository(db), log.child({ component: 'mno' }), { pollMs: options.mnoPollMs });
  await mno.start();

  const live = new LiveHub(bus, { maxPerKey: config.stream.maxPerKey });
  let ready = false;
  const senderRegistry = new SenderRegistryCache(new SenderNamesRepository(db));
  const modules = new ModuleSwitches(new ModulesRepository(db));
  const billing: AcceptBilling = { prices: new PriceCache(new BalanceRepository(db)), templates: new TemplateMatcherCache(new TemplateRegistrationsRepository(db)) };
  const app = await buildApp({
    config,
    log,
    database,
    accounts,
    messages: new MessagesRepository(db),
    idempotency: new IdempotencyRepository(db),
    delivery,
    live,
    metrics,
    senderRegistry,
    billing,
    mno,
    modules,
    accountChanged: (account) => smpp?.accountChanged(account),
    isReady: () => ready,
    ...(options.limits ? { limits: options.limits } : {}),
  });
  // A node without the api role (a worker, a scheduler) opens no HTTP port; without smpp, no SMPP port.
  let url: string | undefined;
  if (options.listen !== false && config.roles.includes('api')) url = await app.listen({ port: config.port, host: config.host });
  let smpp: SmppServer | undefined;
  if (config.smpp.enabled && config.roles.includes('smpp') && (options.listen !== false || options.smpp === true)) {
    smpp = new SmppServer({ config, log: log.child({ component: 'smpp-server' }), database, accounts, delivery, bus, metrics, senderRegistry, billing, mno, modules });
    try {
      await smpp.listen();
    } catch (err) {
      await app.close();
      mno.stop();
      await delivery.stop();
      await database.close();
      throw new Error(`the SMPP server cannot listen on ${config.smpp.host}:${config.smpp.port} (${(err as Error).message}); set SMPP_PORT, or SMPP_ENABLED=false`, { cause: err });
    }
  }
  ready = true;
  log.info({ url, smppPort: smpp?.port, database: database.dialect, roles: config.roles, cluster: config.redisUrl !== undefined }, 'depesha started');

  let closing: Promise<void> | undefined;
  return {
    app,
    database,
    bus,
    mno,
    live,
    url,
    smppPort: smpp?.port,
    close() {
      // In order: stop taking new work, and at once stop claiming (the delivery side sent on for the seconds the
      // listeners took to close); the listeners finish what they are handling (accepts are still stored, and left
      // due: nothing acknowledged is lost) while the submits in flight are answered and recorded; then the
      // connectors unbind (Delivery.stop) and the database closes. A message claimed and not sent is handed back.
      closing ??= (async () => {
        ready = false;
        const drained = delivery.drain().catch((err: unknown) => log.error({ err }, 'the delivery side did not drain cleanly'));
        await smpp?.close();
        await app.close();
        mno.stop();
        live.stop();
        await drained;
        await delivery.stop();
        await database.close();
      })();
      return closing;
    },
  };
}
