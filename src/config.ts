import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import YAML from 'yaml';
import { resolveFileConnector } from './connectors/problems.ts';
import { hasAllRoles, parseRoles, ROLES, type Role } from './cluster/roles.ts';
import { ConnectorDefinitionSchema, RouteDefinitionSchema, routeConnectorIds, routeProblems, type ConnectorDefinition, type RouteDefinition } from './connectors/definitions.ts';
import { DEFAULT_SANDBOX_OUTCOMES, parseSandboxOutcomes, SANDBOX_OUTCOMES_PATTERN } from './connectors/sandbox/sandbox.ts';
import { parseRange } from './domain/ip-ranges.ts';
import { isValidRegion } from './sms/phone.ts';

/**
 * A route in the config file: a route definition plus an optional `id`. With it the route is known as
 * `config-<id>` (its switch and the dry run keep to it when routes are reordered); without it as
 * `config-<n>`, its position.
 */
const FileRouteSchema = Type.Object(
  { ...RouteDefinitionSchema.properties, id: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_-]{0,63}$' })) },
  { additionalProperties: false },
);
export type FileRoute = Static<typeof FileRouteSchema>;

/**
 * The configuration file (`DEPESHA_CONFIG`, JSON or YAML). Every key is optional;
 * environment variables override the file; defaults fill the rest.
 */
export const ConfigFileSchema = Type.Object(
  {
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    host: Type.Optional(Type.String({ minLength: 1 })),
    data_dir: Type.Optional(Type.String({ minLength: 1 })),
    database_url: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
    log_level: Type.Optional(Type.Union([Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')])),
    defaults: Type.Optional(
      Type.Object(
        {
          region: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$' })),
          ttl_seconds: Type.Optional(Type.Integer({ minimum: 30, maximum: 604800 })),
          max_parts: Type.Optional(Type.Integer({ minimum: 1, maximum: 255 })),
        },
        { additionalProperties: false },
      ),
    ),
    sandbox: Type.Optional(
      Type.Object(
        {
          send_latency_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 60000 })),
          receipt_delay_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 600000 })),
          outcomes: Type.Optional(Type.String({ maxLength: 2000, pattern: SANDBOX_OUTCOMES_PATTERN })),
        },
        { additionalProperties: false },
      ),
    ),
    retry: Type.Optional(
      Type.Object(
        {
          initial_delay_ms: Type.Optional(Type.Integer({ minimum: 10, maximum: 3600000 })),
          max_delay_ms: Type.Optional(Type.Integer({ minimum: 10, maximum: 86400000 })),
        },
        { additionalProperties: false },
      ),
    ),
    circuit_breaker: Type.Optional(
      Type.Object(
        {
          failure_threshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
          open_ms: Type.Optional(Type.Integer({ minimum: 10, maximum: 3600000 })),
          max_open_ms: Type.Optional(Type.Integer({ minimum: 10, maximum: 86400000 })),
        },
        { additionalProperties: false },
      ),
    ),
    pipeline: Type.Optional(Type.Union([Type.Literal('thread'), Type.Literal('inline')])),
    webhooks: Type.Optional(
      Type.Object(
        {
          timeout_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: 60000 })),
          concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 256 })),
          retry_base_ms: Type.Optional(Type.Integer({ minimum: 10, maximum: 3600000 })),
          retry_max_ms: Type.Optional(Type.Integer({ minimum: 10, maximum: 86400000 })),
          disable_after_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: 2592000000 })),
          retention_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
          allow_private_addresses: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    receipt_grace_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 604800 })),
    export_retention_hours: Type.Optional(Type.Integer({ minimum: 1, maximum: 8760 })),
    stream: Type.Optional(
      Type.Object(
        {
          max_per_key: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
          keepalive_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 300 })),
        },
        { additionalProperties: false },
      ),
    ),
    rate_limit: Type.Optional(Type.Object({ per_second: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000000 })) }, { additionalProperties: false })),
    verifications: Type.Optional(
      Type.Object(
        {
          max_per_number: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          max_per_account: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000000 })),
        },
        { additionalProperties: false },
      ),
    ),
    http: Type.Optional(
      Type.Object({ trust_proxy: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 100 })) }, { additionalProperties: false }),
    ),
    sqlite: Type.Optional(
      Type.Object({ synchronous: Type.Optional(Type.Union([Type.Literal('full'), Type.Literal('normal')])) }, { additionalProperties: false }),
    ),
    smpp: Type.Optional(
      Type.Object(
        {
          port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
          host: Type.Optional(Type.String({ minLength: 1 })),
          enabled: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    connectors: Type.Optional(Type.Array(ConnectorDefinitionSchema, { maxItems: 1000 })),
    routes: Type.Optional(Type.Array(FileRouteSchema, { maxItems: 10000 })),
  },
  { additionalProperties: false },
);
type ConfigFile = Static<typeof ConfigFileSchema>;

export interface Config {
  /** HTTP port, default 8080 (0 picks a free one) */
  port: number;
  /** HTTP bind address, default 0.0.0.0 */
  host: string;
  /** where SQLite and other local state live, default ./data */
  dataDir: string;
  /** postgres://… switches the store to PostgreSQL; unset means SQLite in dataDir */
  databaseUrl: string | undefined;
  /** makes the first API key created on an empty database this value */
  bootstrapApiKey: string | undefined;
  /** the first administrator made on an empty database (DEPESHA_ADMIN_EMAIL/PASSWORD); unset: admin@depesha.local with a printed one-time password */
  bootstrapAdmin: { email: string | undefined; password: string | undefined };
  /** 32 bytes, base64: seals secrets in the database; unset: a key file in dataDir */
  secretKey: string | undefined;
  logLevel: string;
  defaults: {
    /** region for numbers written without a country code (ISO 3166 alpha-2), default RU */
    region: string;
    /** validity of a message when the request gives none, default 86400 s */
    ttlSeconds: number;
    /** the most SMS parts one message may take, default 10 */
    maxParts: number;
  };
  sandbox: {
    /** time the sandbox takes to accept a submit, default 5 ms */
    sendLatencyMs: number;
    /** time from submit to the sandbox's delivery receipt, default 200 ms */
    receiptDelayMs: number;
    /** which numbers get which outcome (connectors/sandbox/sandbox.ts parseSandboxOutcomes), default DEFAULT_SANDBOX_OUTCOMES */
    outcomes: string;
  };
  retry: {
    /** first back-off after a temporary failure, default 1000 ms; doubles each attempt */
    initialDelayMs: number;
    /** longest back-off, default 300000 ms */
    maxDelayMs: number;
  };
  /** when a failing connector is taken out of rotation (pipeline/rotation.ts) */
  rotation: {
    /** consecutive link failures that open a connector's circuit, default 5 */
    failureThreshold: number;
    /** how long it stays open the first time, default 30000 ms; doubles after a failed probe */
    openMs: number;
    /** the longest it stays open, default 300000 ms */
    maxOpenMs: number;
  };
  webhooks: {
    /** how long one webhook POST may take, answer included, default 10,000 ms */
    timeoutMs: number;
    /** requests in flight per endpoint, default 32 */
    concurrency: number;
    /** first back-off after a failed delivery, default 5,000 ms; doubles each attempt */
    retryBaseMs: number;
    /** longest back-off, default 120,000 ms (2 min) */
    retryMaxMs: number;
    /** an endpoint that fails this long is disabled, default 259,200,000 ms (3 days) */
    disableAfterMs: number;
    /** finished deliveries and the delivery log are kept this long (and can be replayed), default 30 days */
    retentionDays: number;
    /** whether webhooks may go to private, loopback and link-local addresses (refused by default: SSRF), default false */
    allowPrivateAddresses: boolean;
  };
  /**
   * how long a sent message waits for its receipt after its validity ended
   * before it is finished as `expired` (`no_receipt`), default 3600 s
   */
  receiptGraceSeconds: number;
  /** how long a ready background export's file is kept, default 168 h (7 days) */
  exportRetentionHours: number;
  stream: {
    /** open `GET /v1/events/stream` connections one API key may hold, default 10 */
    maxPerKey: number;
    /** seconds between keep-alive comments on an idle stream, default 15 */
    keepAliveSeconds: number;
  };
  /** `thread` (default) runs delivery in a worker thread beside the HTTP API; `inline` runs both on the main thread */
  pipeline: 'thread' | 'inline';
  /** requests one API key may make per second, default 10,000 */
  rateLimitPerSecond: number;
  /** limits of POST /v1/verifications against SMS pumping */
  verifications: {
    /** verifications one number may get in 10 minutes, default 5 */
    maxPerNumber: number;
    /** verifications one account may start in an hour, default 1,000 */
    maxPerAccount: number;
  };
  http: {
    /**
     * the reverse proxies in front (addresses, CIDR ranges, or loopback, linklocal, uniquelocal), whose
     * X-Forwarded-For and X-Forwarded-Proto are believed; empty (default): none, the peer is the client
     */
    trustProxy: string[];
  };
  sqlite: {
    /** `full` syncs every commit to disk (survives power loss); `normal` survives process crashes only */
    synchronous: 'full' | 'normal';
  };
  smpp: {
    /** false: no SMPP server; default true */
    enabled: boolean;
    /** SMPP server port, default 2775 (0 picks a free one) */
    port: number;
    /** SMPP bind address, default the HTTP one */
    host: string;
  };
  /**
   * Connectors declared in the file, with `password_env` already resolved
   * into `password`. The sandbox (`sandbox`) always exists; declaring a
   * connector with that id changes its settings.
   */
  connectors: ConnectorDefinition[];
  /** Routes declared in the file; none: every SMS goes to the sandbox. */
  routes: FileRoute[];
  /** what this node runs (DEPESHA_ROLES or `start --roles`), default all of them */
  roles: Role[];
  /** redis://… (with DATABASE_URL) makes this node one of a cluster sharing PostgreSQL and Redis */
  redisUrl: string | undefined;
  /** what the cluster's Redis keys start with (DEPESHA_REDIS_PREFIX), default depesha: clusters sharing a Redis differ in it */
  redisPrefix: string;
  /** how long a claimed message belongs to its sender before another may take it, default 60 s */
  leaseSeconds: number;
  /** how long an operator bind's slot outlives its worker's last renewal (DEPESHA_BIND_LEASE_SECONDS, ms here), default 5 s */
  bindLeaseMs: number;
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Env = Record<string, string | undefined>;

function boolFromEnv(env: Env, name: string, problems: string[]): boolean | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  problems.push(`${name} must be true or false, not ${JSON.stringify(raw)}`);
  return undefined;
}

function sandboxOutcomesFromEnv(env: Env, problems: string[]): string | undefined {
  const raw = env.DEPESHA_SANDBOX_OUTCOMES;
  if (raw === undefined) return undefined;
  try {
    parseSandboxOutcomes(raw);
    return raw;
  } catch (err) {
    problems.push(`DEPESHA_SANDBOX_OUTCOMES: ${(err as Error).message}`);
    return undefined;
  }
}

function intFromEnv(env: Env, name: string, problems: string[], min: number, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) {
    problems.push(`${name}=${JSON.stringify(raw)} is not a whole number`);
    return undefined;
  }
  const value = Number(raw);
  if (value < min || value > max) {
    problems.push(`${name}=${raw} is out of range ${min}..${max}`);
    return undefined;
  }
  return value;
}

function readConfigFile(file: string, problems: string[]): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push(`DEPESHA_CONFIG: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    return {};
  }
  let parsed: unknown;
  try {
    parsed = /\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    problems.push(`DEPESHA_CONFIG: ${file} is not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(err as Error).message}`);
    return {};
  }
  parsed ??= {};
  const errors = [...Value.Errors(ConfigFileSchema, parsed)];
  for (const error of errors) {
    const where = error.instancePath.replace(/^\//, '').replaceAll('/', '.') || '(top level)';
    const extra = 'additionalProperties' in error.params ? `: ${JSON.stringify(error.params.additionalProperties)}` : '';
    problems.push(`${file}: ${where} ${error.message}${extra}`);
  }
  return errors.length === 0 ? (parsed as ConfigFile) : {};
}

/** Names proxy-addr (Fastify's trustProxy) knows for groups of addresses. */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** The trusted reverse proxies: DEPESHA_TRUST_PROXY (comma-separated) or http.trust_proxy; each an address, a CIDR range or a name. */
function trustProxyFrom(env: Env, file: ConfigFile, problems: string[]): string[] {
  const fromEnv = env.DEPESHA_TRUST_PROXY || undefined;
  const where = fromEnv !== undefined ? 'DEPESHA_TRUST_PROXY' : 'http.trust_proxy';
  const list = fromEnv !== undefined ? fromEnv.split(',').map((s) => s.trim()).filter((s) => s !== '') : (file.http?.trust_proxy ?? []).map((s) => s.trim());
  const bad = list.filter((entry) => !PROXY_RANGE_NAMES.has(entry) && parseRange(entry) === undefined);
  if (bad.length > 0) problems.push(`${where}: ${bad.map((b) => JSON.stringify(b)).join(', ')} ${bad.length === 1 ? 'is' : 'are'} not an address, a CIDR range (10.0.0.0/8) or one of loopback, linklocal, uniquelocal`);
  return bad.length > 0 ? [] : list;
}

/** Reads and validates the configuration; throws a ConfigError listing every problem at once. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const file: ConfigFile = env.DEPESHA_CONFIG ? readConfigFile(env.DEPESHA_CONFIG, problems) : {};

  const databaseUrl = env.DATABASE_URL || file.database_url;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must be a postgres:// or postgresql:// URL (leave it unset for SQLite)');
  }
  const bootstrapApiKey = env.DEPESHA_BOOTSTRAP_API_KEY || undefined;
  if (bootstrapApiKey !== undefined && !/^[A-Za-z0-9_\-]{20,128}$/.test(bootstrapApiKey)) {
    problems.push('DEPESHA_BOOTSTRAP_API_KEY must be 20–128 characters of letters, digits, "_" or "-"');
  }
  const adminEmail = env.DEPESHA_ADMIN_EMAIL || undefined;
  if (adminEmail !== undefined && !/^[^@\s]+@[^@\s]+$/.test(adminEmail)) problems.push('DEPESHA_ADMIN_EMAIL must be an email address');
  const adminPassword = env.DEPESHA_ADMIN_PASSWORD || undefined;
  if (adminPassword !== undefined && adminPassword.length < 10) problems.push('DEPESHA_ADMIN_PASSWORD must be at least 10 characters');
  const secretKey = env.DEPESHA_SECRET_KEY || undefined;
  if (secretKey !== undefined && Buffer.from(secretKey, 'base64').length !== 32) problems.push('DEPESHA_SECRET_KEY must be 32 bytes in base64 (e.g. from: openssl rand -base64 32)');
  const logLevel = env.LOG_LEVEL || file.log_level || 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    problems.push(`LOG_LEVEL=${logLevel} is not one of fatal, error, warn, info, debug, trace, silent`);
  }
  const region = (env.DEPESHA_DEFAULT_REGION || file.defaults?.region || 'RU').toUpperCase();
  if (!isValidRegion(region)) problems.push(`default region ${region} is not a known ISO 3166 country code`);
  const pipeline = env.DEPESHA_PIPELINE || file.pipeline || 'thread';
  if (pipeline !== 'thread' && pipeline !== 'inline') problems.push('DEPESHA_PIPELINE must be thread or inline');
  const synchronous = env.DEPESHA_SQLITE_SYNCHRONOUS || file.sqlite?.synchronous || 'full';
  if (synchronous !== 'full' && synchronous !== 'normal') problems.push('DEPESHA_SQLITE_SYNCHRONOUS must be full or normal');

  const config: Config = {
    port: intFromEnv(env, 'PORT', problems, 0, 65535) ?? file.port ?? 8080,
    host: env.HOST || file.host || '0.0.0.0',
    dataDir: path.resolve(env.DEPESHA_DATA_DIR || file.data_dir || './data'),
    databaseUrl,
    bootstrapApiKey,
    bootstrapAdmin: { email: adminEmail, password: adminPassword },
    secretKey,
    logLevel,
    defaults: {
      region,
      ttlSeconds: intFromEnv(env, 'DEPESHA_DEFAULT_TTL_SECONDS', problems, 30, 604800) ?? file.defaults?.ttl_seconds ?? 86400,
      maxParts: intFromEnv(env, 'DEPESHA_MAX_PARTS', problems, 1, 255) ?? file.defaults?.max_parts ?? 10,
    },
    sandbox: {
      sendLatencyMs: intFromEnv(env, 'DEPESHA_SANDBOX_SEND_LATENCY_MS', problems, 0, 60000) ?? file.sandbox?.send_latency_ms ?? 5,
      receiptDelayMs: intFromEnv(env, 'DEPESHA_SANDBOX_RECEIPT_DELAY_MS', problems, 0, 600000) ?? file.sandbox?.receipt_delay_ms ?? 200,
      outcomes: sandboxOutcomesFromEnv(env, problems) ?? file.sandbox?.outcomes ?? DEFAULT_SANDBOX_OUTCOMES,
    },
    retry: {
      initialDelayMs: intFromEnv(env, 'DEPESHA_RETRY_INITIAL_DELAY_MS', problems, 10, 3600000) ?? file.retry?.initial_delay_ms ?? 1000,
      maxDelayMs: intFromEnv(env, 'DEPESHA_RETRY_MAX_DELAY_MS', problems, 10, 86400000) ?? file.retry?.max_delay_ms ?? 300000,
    },
    rotation: {
      failureThreshold: intFromEnv(env, 'DEPESHA_CIRCUIT_FAILURE_THRESHOLD', problems, 1, 10000) ?? file.circuit_breaker?.failure_threshold ?? 5,
      openMs: intFromEnv(env, 'DEPESHA_CIRCUIT_OPEN_MS', problems, 10, 3600000) ?? file.circuit_breaker?.open_ms ?? 30000,
      maxOpenMs: intFromEnv(env, 'DEPESHA_CIRCUIT_MAX_OPEN_MS', problems, 10, 86400000) ?? file.circuit_breaker?.max_open_ms ?? 300000,
    },
    webhooks: {
      timeoutMs: intFromEnv(env, 'DEPESHA_WEBHOOK_TIMEOUT_MS', problems, 100, 60000) ?? file.webhooks?.timeout_ms ?? 10000,
      concurrency: intFromEnv(env, 'DEPESHA_WEBHOOK_CONCURRENCY', problems, 1, 256) ?? file.webhooks?.concurrency ?? 32,
      retryBaseMs: intFromEnv(env, 'DEPESHA_WEBHOOK_RETRY_BASE_MS', problems, 10, 3600000) ?? file.webhooks?.retry_base_ms ?? 5000,
      retryMaxMs: intFromEnv(env, 'DEPESHA_WEBHOOK_RETRY_MAX_MS', problems, 10, 86400000) ?? file.webhooks?.retry_max_ms ?? 120000,
      disableAfterMs: intFromEnv(env, 'DEPESHA_WEBHOOK_DISABLE_AFTER_MS', problems, 100, 2592000000) ?? file.webhooks?.disable_after_ms ?? 259200000,
      retentionDays: intFromEnv(env, 'DEPESHA_WEBHOOK_RETENTION_DAYS', problems, 1, 3650) ?? file.webhooks?.retention_days ?? 30,
      allowPrivateAddresses: boolFromEnv(env, 'DEPESHA_WEBHOOK_ALLOW_PRIVATE_ADDRESSES', problems) ?? file.webhooks?.allow_private_addresses ?? false,
    },
    receiptGraceSeconds: intFromEnv(env, 'DEPESHA_RECEIPT_GRACE_SECONDS', problems, 0, 604800) ?? file.receipt_grace_seconds ?? 3600,
    exportRetentionHours: intFromEnv(env, 'DEPESHA_EXPORT_RETENTION_HOURS', problems, 1, 8760) ?? file.export_retention_hours ?? 168,
    stream: {
      maxPerKey: intFromEnv(env, 'DEPESHA_STREAM_MAX_PER_KEY', problems, 1, 10000) ?? file.stream?.max_per_key ?? 10,
      keepAliveSeconds: intFromEnv(env, 'DEPESHA_STREAM_KEEPALIVE_SECONDS', problems, 1, 300) ?? file.stream?.keepalive_seconds ?? 15,
    },
    pipeline: pipeline === 'inline' ? 'inline' : 'thread',
    rateLimitPerSecond: intFromEnv(env, 'DEPESHA_RATE_LIMIT_PER_SECOND', problems, 1, 1000000) ?? file.rate_limit?.per_second ?? 10000,
    verifications: {
      maxPerNumber: intFromEnv(env, 'DEPESHA_VERIFY_MAX_PER_NUMBER', problems, 1, 1000) ?? file.verifications?.max_per_number ?? 5,
      maxPerAccount: intFromEnv(env, 'DEPESHA_VERIFY_MAX_PER_ACCOUNT', problems, 1, 10000000) ?? file.verifications?.max_per_account ?? 1000,
    },
    http: { trustProxy: trustProxyFrom(env, file, problems) },
    sqlite: { synchronous: synchronous === 'normal' ? 'normal' : 'full' },
    smpp: { enabled: true, port: 2775, host: '0.0.0.0' },
    connectors: [],
    routes: [],
    roles: parseRoles(env.DEPESHA_ROLES || ROLES.join(','), problems),
    redisUrl: env.REDIS_URL || undefined,
    redisPrefix: env.DEPESHA_REDIS_PREFIX || 'depesha',
    leaseSeconds: intFromEnv(env, 'DEPESHA_LEASE_SECONDS', problems, 2, 3600) ?? 60,
    bindLeaseMs: (intFromEnv(env, 'DEPESHA_BIND_LEASE_SECONDS', problems, 1, 300) ?? 5) * 1000,
  };
  if (config.redisUrl !== undefined && !/^rediss?:\/\//.test(config.redisUrl)) problems.push('REDIS_URL must be a redis:// or rediss:// URL');
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(config.redisPrefix)) problems.push('DEPESHA_REDIS_PREFIX must be 1–64 letters, digits, "_", "." or "-"');
  if (config.redisUrl !== undefined && databaseUrl === undefined) problems.push('REDIS_URL needs DATABASE_URL: the nodes of a cluster share a PostgreSQL database');
  if (!hasAllRoles(config.roles) && config.redisUrl === undefined) problems.push('running only some roles (DEPESHA_ROLES, --roles) needs DATABASE_URL and REDIS_URL: the other roles run on other nodes');
  const smppEnabled = env.SMPP_ENABLED ?? (file.smpp?.enabled === false ? 'false' : 'true');
  if (smppEnabled !== 'true' && smppEnabled !== 'false') problems.push('SMPP_ENABLED must be true or false');
  config.smpp = {
    enabled: smppEnabled !== 'false',
    port: intFromEnv(env, 'SMPP_PORT', problems, 0, 65535) ?? file.smpp?.port ?? 2775,
    host: env.SMPP_HOST || file.smpp?.host || config.host,
  };
  if (config.retry.maxDelayMs < config.retry.initialDelayMs) problems.push('retry max delay must not be below the initial delay');
  if (config.rotation.maxOpenMs < config.rotation.openMs) problems.push('circuit breaker max open time must not be below its open time');
  if (config.webhooks.retryMaxMs < config.webhooks.retryBaseMs) problems.push('webhook retry max delay must not be below its base delay');
  config.connectors = resolveConnectors(file.connectors ?? [], env, problems);
  const known = new Set(['sandbox', ...config.connectors.map((c) => c.id)]);
  const routeIds = new Set<string>();
  (file.routes ?? []).forEach((route, i) => {
    if (route.id !== undefined) {
      if (routeIds.has(route.id)) problems.push(`routes.${i}.id: another route already has the id ${route.id}`);
      routeIds.add(route.id);
    }
    for (const p of routeProblems(route)) problems.push(`routes.${i}.${p.field}: ${p.issue}`);
    const field = route.connector !== undefined ? 'connector' : route.failover ? 'failover' : 'split';
    for (const id of routeConnectorIds(route)) if (!known.has(id)) problems.push(`routes.${i}.${field}: no connector with id ${id} is declared`);
  });
  config.routes = file.routes ?? [];
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Checks what the schema cannot (unique ids, a password from somewhere) and reads `password_env`. */
function resolveConnectors(declared: ConnectorDefinition[], env: Env, problems: string[]): ConnectorDefinition[] {
  const seen = new Set<string>();
  return declared.map((c, i) => {
    if (seen.has(c.id)) problems.push(`connectors.${i}.id: ${c.id} is declared twice`);
    seen.add(c.id);
    if (c.id === 'sandbox' && c.type !== 'sandbox') problems.push(`connectors.${i}.id: sandbox is the built-in sandbox's id; choose another`);
    if (c.type !== 'smpp' && c.type !== 'sandbox') return resolveFileConnector(c, env, `connectors.${i}`, problems);
    if (c.type !== 'smpp') return c;
    const { password_env: passwordEnv, ...rest } = c;
    if (passwordEnv !== undefined && c.password !== undefined) problems.push(`connectors.${i}: give password or password_env, not both`);
    let password = c.password;
    if (passwordEnv !== undefined) {
      password = env[passwordEnv];
      if (password === undefined) problems.push(`connectors.${i}.password_env: the environment variable ${passwordEnv} is not set`);
      else if (password.length > 8) problems.push(`connectors.${i}.password_env: SMPP passwords are at most 8 characters (${passwordEnv} has ${password.length})`);
    }
    if (password === undefined && passwordEnv === undefined) problems.push(`connectors.${i}: an smpp connector needs password or password_env`);
    if ((c.reconnect_max_ms ?? 60000) < (c.reconnect_min_ms ?? 1000)) problems.push(`connectors.${i}: reconnect_max_ms must not be below reconnect_min_ms`);
    return { ...rest, password: password ?? '' };
  });
}
