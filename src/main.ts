#!/usr/bin/env -S node --max-semi-space-size=4
import './heap.ts';
import { ConfigError, loadConfig } from './config.ts';
import { startGateway } from './gateway.ts';
import { createLogger } from './log.ts';
import { runMno } from './mno-cli.ts';
import { runUser } from './user-cli.ts';
import { openDatabase } from './store/db.ts';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SmscSimulator, type SimulatorOptions } from './smpp/simulator.ts';

const USAGE = `usage: depesha <command>

commands:
  start     run the gateway (HTTP API, pipeline, sandbox connector)
            --roles api,smpp,worker,scheduler   what this node runs (default all; a subset
            needs DATABASE_URL and REDIS_URL, see docs/deploy.md)
  migrate   apply database migrations and exit
  mno       import the numbering-plan registry and ported numbers (depesha mno help)
  sim       run an SMSC simulator to point an SMPP connector at (depesha sim --help)
  user      make a cabinet user, e.g. the first administrator (depesha user help)

configuration: environment variables and DEPESHA_CONFIG; see README.md`;

async function main(argv: string[]): Promise<number> {
  const command = argv[0] ?? 'start';
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (command === 'sim') return runSimulator(argv.slice(1));
  let env = process.env;
  if (command === 'start') {
    let values;
    try {
      ({ values } = parseArgs({ args: argv.slice(1), options: { roles: { type: 'string' } }, allowPositionals: false, strict: true }));
    } catch (err) {
      process.stderr.write(`depesha start: ${(err as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    if (values.roles !== undefined) env = { ...env, DEPESHA_ROLES: values.roles };
  }
  let config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.message + '\n');
      return 2;
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  switch (command) {
    case 'start': {
      const gateway = await startGateway(config, { log });
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'shutting down');
        gateway.close().then(
          () => process.exit(0),
          (err: unknown) => {
            log.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      return -1;
    }
    case 'migrate': {
      const database = await openDatabase({ databaseUrl: config.databaseUrl, sqlitePath: path.join(config.dataDir, 'depesha.sqlite'), sqliteSynchronous: config.sqlite.synchronous });
      const applied = await database.migrate();
      await database.close();
      log.info({ migrations: applied }, applied.length > 0 ? 'migrations applied' : 'no migrations pending');
      return 0;
    }
    case 'user':
      return runUser(argv.slice(1), config, { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) });
    case 'mno':
      return runMno(argv.slice(1), config, { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) });
    default:
      process.stderr.write(`unknown command "${command}"\n\n${USAGE}\n`);
      return 2;
  }
}

const SIM_USAGE = `usage: depesha sim [flags]

Runs an SMSC simulator in the foreground until SIGINT or SIGTERM: it accepts
binds, answers submit_sm, sends delivery receipts, and misbehaves on request.

flags:
  --host ADDRESS                 address to listen on (default 127.0.0.1)
  --port N                       port (default 2776; 2775 is the gateway's own SMPP server; 0 picks one)
  --account SYSTEM_ID:PASSWORD   an account that may bind (repeatable; none: every bind is accepted)
  --submit-delay-ms MS           time from submit_sm to its response (default 0)
  --receipt-delay-ms MS          time from submit_sm_resp to the receipt (default 100)
  --submit-id-format hex|decimal   message ids in submit_sm_resp (default hex)
  --receipt-id-format hex|decimal  message ids in receipts (default hex)
  --throttle-rate R              share of submits answered 0x58 throttled, 0..1 (default 0)
  --temporary-error-rate R       share answered 0x08, 0x14 or 0x64 (default 0)
  --permanent-error-rate R       share answered 0x45 submit failed (default 0)
  --undelivered-rate R           share of accepted messages whose receipt says UNDELIV (default 0)
  --disconnect-rate R            share of submits after which the connection is dropped (default 0)
  --window N                     unanswered receipts and MO per bind (default 100)`;

const SIM_FLAGS = {
  host: { type: 'string', default: '127.0.0.1' },
  port: { type: 'string', default: '2776' },
  account: { type: 'string', multiple: true },
  'submit-delay-ms': { type: 'string', default: '0' },
  'receipt-delay-ms': { type: 'string', default: '100' },
  'submit-id-format': { type: 'string', default: 'hex' },
  'receipt-id-format': { type: 'string', default: 'hex' },
  'throttle-rate': { type: 'string', default: '0' },
  'temporary-error-rate': { type: 'string', default: '0' },
  'permanent-error-rate': { type: 'string', default: '0' },
  'undelivered-rate': { type: 'string', default: '0' },
  'disconnect-rate': { type: 'string', default: '0' },
  window: { type: 'string', default: '100' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** Reads `depesha sim` flags into simulator options; every problem is listed, as for the configuration. */
function parseSimulatorArgs(args: string[]): { options: SimulatorOptions & { host: string; port: number }; help: boolean } | { problems: string[] } {
  let values;
  try {
    ({ values } = parseArgs({ args, options: SIM_FLAGS, allowPositionals: false, strict: true }));
  } catch (err) {
    return { problems: [(err as Error).message] };
  }
  const problems: string[] = [];
  const whole = (name: keyof typeof SIM_FLAGS, min: number, max: number): number => {
    const raw = values[name] as string;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) problems.push(`--${name} must be a whole number in ${min}..${max}, got ${JSON.stringify(raw)}`);
    return n;
  };
  const share = (name: keyof typeof SIM_FLAGS): number => {
    const raw = values[name] as string;
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) problems.push(`--${name} must be a number in 0..1, got ${JSON.stringify(raw)}`);
    return n;
  };
  const idFormat = (name: 'submit-id-format' | 'receipt-id-format'): 'hex' | 'decimal' => {
    const raw = values[name];
    if (raw !== 'hex' && raw !== 'decimal') problems.push(`--${name} must be hex or decimal, got ${JSON.stringify(raw)}`);
    return raw === 'decimal' ? 'decimal' : 'hex';
  };
  let accounts: Record<string, string> | undefined;
  for (const pair of values.account ?? []) {
    const colon = pair.indexOf(':');
    const systemId = pair.slice(0, colon);
    if (colon <= 0 || systemId.length > 15 || pair.length - colon - 1 > 8) {
      problems.push(`--account wants SYSTEM_ID:PASSWORD (at most 15 and 8 characters), got ${JSON.stringify(pair)}`);
      continue;
    }
    accounts ??= {};
    accounts[systemId] = pair.slice(colon + 1);
  }
  const options = {
    host: values.host,
    port: whole('port', 0, 65535),
    accounts,
    submitDelayMs: whole('submit-delay-ms', 0, 600_000),
    receiptDelayMs: whole('receipt-delay-ms', 0, 86_400_000),
    submitIdFormat: idFormat('submit-id-format'),
    receiptIdFormat: idFormat('receipt-id-format'),
    throttleRate: share('throttle-rate'),
    temporaryErrorRate: share('temporary-error-rate'),
    permanentErrorRate: share('permanent-error-rate'),
    undeliveredRate: share('undelivered-rate'),
    disconnectRate: share('disconnect-rate'),
    windowSize: whole('window', 1, 10_000),
  };
  return problems.length > 0 ? { problems } : { options, help: values.help };
}

async function runSimulator(args: string[]): Promise<number> {
  const parsed = parseSimulatorArgs(args);
  if ('problems' in parsed) {
    process.stderr.write(`depesha sim: invalid flags:\n${parsed.problems.map((p) => `  - ${p}`).join('\n')}\n\n${SIM_USAGE}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(SIM_USAGE + '\n');
    return 0;
  }
  const o = parsed.options;
  const sim = new SmscSimulator(o);
  sim.recordSubmits = false; // runs for as long as it is left running: keep no history
  const port = await sim.start();
  const accounts = o.accounts ? Object.keys(o.accounts).join(', ') : 'any bind accepted';
  process.stdout.write(
    `SMSC simulator listening on ${o.host}:${port} (accounts: ${accounts}; submit delay ${o.submitDelayMs} ms, receipt delay ${o.receiptDelayMs} ms; ` +
      `ids ${o.submitIdFormat} in submit_sm_resp, ${o.receiptIdFormat} in receipts; throttle ${o.throttleRate}, temporary errors ${o.temporaryErrorRate}, ` +
      `permanent errors ${o.permanentErrorRate}, undelivered ${o.undeliveredRate}, disconnects ${o.disconnectRate}; window ${o.windowSize})\n`,
  );
  let last = { ...sim.stats };
  const statsTimer = setInterval(() => {
    const s = sim.stats;
    const per = (k: keyof typeof s) => `${s[k]} (+${s[k] - last[k]})`;
    process.stderr.write(`[${new Date().toISOString()}] binds ${sim.bound}; submits ${per('submits')}, accepted ${per('accepted')}, refused ${per('refused')}, receipts ${per('receipts')}\n`);
    last = { ...s };
  }, 10_000);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    clearInterval(statsTimer);
    sim.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return -1;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`depesha: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
