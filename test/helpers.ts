import { createServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig, type Config } from '../src/config.ts';
import { startGateway, type Gateway, type GatewayOptions } from '../src/gateway.ts';
import { createLogger } from '../src/log.ts';
import { AccountsRepository, generateApiKey } from '../src/store/accounts.ts';

export const TEST_DATABASE_URL = process.env.DEPESHA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let pgAvailable: Promise<string | undefined> | undefined;

/** undefined when PostgreSQL answers; otherwise why not. */
export function postgresUnavailable(): Promise<string | undefined> {
  pgAvailable ??= (async () => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('select 1');
      return undefined;
    } catch (err) {
      return `PostgreSQL is not reachable at ${TEST_DATABASE_URL.replace(/\/\/[^@]*@/, '//')}: ${(err as Error).message}`;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return pgAvailable;
}

export type DialectName = 'sqlite' | 'postgres';

/**
 * The dialects a suite runs on. PostgreSQL is skipped, with the reason, only
 * when it is unreachable outside CI; in CI an unreachable PostgreSQL fails.
 */
export async function dialects(): Promise<{ name: DialectName; skip: string | false }[]> {
  const why = await postgresUnavailable();
  if (why && process.env.CI === 'true') throw new Error(`CI=true but ${why}`);
  return [
    { name: 'sqlite', skip: false },
    { name: 'postgres', skip: why ?? false },
  ];
}

export interface TestGateway {
  gateway: Gateway;
  config: Config;
  /** the demo account's API key */
  apiKey: string;
  accountId: string;
  /** a second account and its key, for tenancy checks */
  makeAccount(name?: string): Promise<{ accountId: string; apiKey: string }>;
  /** stops the gateway and starts it again on the same database and data directory (`gateway` is the new one) */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** A gateway on a fresh database of the given dialect, not listening (use app.inject). */
export async function startTestGateway(dialect: DialectName, env: Record<string, string> = {}, options: { configFile?: unknown; smpp?: boolean; limits?: GatewayOptions['limits'] } = {}): Promise<TestGateway> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'depesha-test-'));
  if (options.configFile !== undefined) {
    writeFileSync(path.join(dataDir, 'config.json'), JSON.stringify(options.configFile));
    env = { DEPESHA_CONFIG: path.join(dataDir, 'config.json'), ...env };
  }
  const apiKey = generateApiKey();
  const config = loadConfig({
    DEPESHA_DATA_DIR: dataDir,
    DEPESHA_BOOTSTRAP_API_KEY: apiKey,
    LOG_LEVEL: 'silent',
    SMPP_PORT: '0',
    SMPP_HOST: '127.0.0.1',
    DEPESHA_SANDBOX_SEND_LATENCY_MS: '0',
    DEPESHA_SANDBOX_RECEIPT_DELAY_MS: '20',
    DEPESHA_RETRY_INITIAL_DELAY_MS: '50',
    DEPESHA_SQLITE_SYNCHRONOUS: 'normal',
    // The suites' webhook receivers listen on 127.0.0.1.
    DEPESHA_WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
    ...(dialect === 'postgres' ? { DATABASE_URL: TEST_DATABASE_URL } : {}),
    ...env,
  });
  const pgSchema = dialect === 'postgres' ? `t_${randomBytes(6).toString('hex')}` : undefined;
  const start = () => startGateway(config, { log: createLogger('silent'), listen: false, print: () => {}, pollMs: 50, smpp: options.smpp ?? false, ...(pgSchema ? { pgSchema } : {}), ...(options.limits ? { limits: options.limits } : {}) });
  const gateway = await start();
  const accounts = new AccountsRepository(gateway.database.db);
  const key = await accounts.findApiKeyByHash((await import('../src/store/accounts.ts')).hashApiKey(apiKey));
  const made: TestGateway = {
    gateway,
    config,
    apiKey,
    accountId: key!.accountId,
    async makeAccount(name = 'Other') {
      const accounts = new AccountsRepository(made.gateway.database.db);
      const account = await accounts.createAccount({ name, defaultRegion: 'RU', defaultTtlSeconds: 86400, maxParts: 10 });
      const other = generateApiKey();
      await accounts.createApiKey(account.id, 'test', other);
      return { accountId: account.id, apiKey: other };
    },
    async restart() {
      await made.gateway.close();
      made.gateway = await start();
    },
    async close() {
      await made.gateway.close();
      if (pgSchema) {
        const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
        await client.end();
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return made;
}

/**
 * A JSON call to the test gateway's API (app.inject) with the demo account's
 * key, or `key`: the status and the parsed body (null when empty).
 */
export function apiCaller(t: TestGateway) {
  return async (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown, key = t.apiKey): Promise<{ status: number; body: any }> => {
    const res = await t.gateway.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    return { status: res.statusCode, body: res.body === '' ? null : res.json() };
  };
}

/**
 * Resolves with the status once the message reaches one of `statuses`: listens
 * on the event bus first, then reads the current row, so no change is missed.
 */
export function waitForStatus(gateway: Gateway, messageId: string, statuses: readonly string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`message ${messageId} did not reach ${statuses.join('|')} within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (status: string) => {
      clearTimeout(timer);
      off();
      resolve(status);
    };
    const off = gateway.bus.onStatus((changes) => {
      for (const c of changes) if (c.messageId === messageId && statuses.includes(c.status)) done(c.status);
    });
    gateway.database.db
      .selectFrom('messages')
      .select('status')
      .where('id', '=', messageId)
      .executeTakeFirst()
      .then((row) => {
        if (row && statuses.includes(row.status)) done(row.status);
      }, reject);
  });
}

/** A free TCP port on 127.0.0.1 (for a server started after this returns). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `check` every 20 ms until it gives a value (for state no event announces), failing after `timeoutMs`. */
export async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
