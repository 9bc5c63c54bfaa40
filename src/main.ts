#!/usr/bin/env node
import { ConfigError, loadConfig } from './config.ts';
import { startGateway } from './gateway.ts';
import { createLogger } from './log.ts';
import { openDatabase } from './store/db.ts';
import path from 'node:path';

const USAGE = `usage: depesha <command>

commands:
  start     run the gateway (HTTP API, pipeline, sandbox connector)
  migrate   apply database migrations and exit

configuration: environment variables and DEPESHA_CONFIG; see README.md`;

async function main(argv: string[]): Promise<number> {
  const command = argv[0] ?? 'start';
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  let config;
  try {
    config = loadConfig();
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
      await database.migrate();
      await database.close();
      log.info('migrations applied');
      return 0;
    }
    default:
      process.stderr.write(`unknown command "${command}"\n\n${USAGE}\n`);
      return 2;
  }
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
