import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { Kysely, PostgresDialect, sql, SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';
import { Migrator, type Migration } from 'kysely/migration';
import pg from 'pg';
import * as initial from './migrations/001-initial.ts';
import * as partialIndexes from './migrations/002-partial-indexes.ts';
import * as keyRoles from './migrations/003-key-roles-unmatched-receipts.ts';
import * as smppServer from './migrations/004-smpp-server.ts';
import * as inbound from './migrations/005-inbound.ts';
import * as connectorsRoutes from './migrations/006-connectors-routes.ts';
import * as webhooks from './migrations/007-webhooks.ts';
import * as mno from './migrations/008-mno.ts';
import * as sentExpiry from './migrations/009-sent-expiry.ts';
import * as routing from './migrations/010-routing.ts';
import * as sendersSettings from './migrations/011-senders-settings.ts';
import * as cabinetUsers from './migrations/013-cabinet-users.ts';
import * as channels from './migrations/014-channels.ts';
import * as contacts from './migrations/015-contacts.ts';
import * as cascades from './migrations/016-cascades.ts';
import * as openParts from './migrations/017-open-parts.ts';
import * as mailingRunner from './migrations/018-mailing-runner.ts';
import * as exportJobs from './migrations/019-exports.ts';
import * as templatesBalance from './migrations/020-templates-balance.ts';
import * as cabinetSwitchesExportChunks from './migrations/022-cabinet-switches-export-chunks.ts';
import * as unmatchedTemplates from './migrations/025-unmatched-templates.ts';
import * as verificationSweep from './migrations/024-verification-sweep.ts';
import * as contactImports from './migrations/026-contact-imports.ts';
import * as mailingCascade from './migrations/027-mailing-cascade.ts';
import * as apiKeyProjects from './migrations/030-api-key-projects.ts';
import * as mailingCancel from './migrations/031-mailing-cancel.ts';
import * as moduleSwitches from './migrations/032-module-switches.ts';
import * as userPreferences from './migrations/033-user-preferences.ts';
import * as unloggedImportRows from './migrations/034-unlogged-import-rows.ts';
import * as mailingTemplates from './migrations/035-mailing-templates.ts';
import * as mailingParams from './migrations/037-mailing-params.ts';
import * as mailingAudienceSize from './migrations/038-mailing-audience-size.ts';
import * as partConcatRef from './migrations/039-part-concat-ref.ts';
import * as mailingCountIndex from './migrations/040-mailing-count-index.ts';
import * as contactImportLines from './migrations/041-contact-import-lines.ts';
import * as callbackGivenUp from './migrations/042-callback-given-up.ts';
import * as smppReceiptMarks from './migrations/043-smpp-receipt-marks.ts';
import * as mailingReferenceFks from './migrations/044-mailing-reference-fks.ts';
import type { DB } from './schema.ts';

export type Dialect = 'sqlite' | 'postgres';

export interface Database {
  db: Kysely<DB>;
  dialect: Dialect;
  /** PostgreSQL only: the pool behind `db`, for what Kysely does not speak (`COPY … FROM STDIN`, pg-copy.ts) */
  pool?: pg.Pool;
  /**
   * Applies pending migrations and returns the names it applied, oldest first
   * (none when another process applied them first); safe to call from several
   * processes at once.
   */
  migrate(options?: MigrateOptions): Promise<string[]>;
  /** a cheap round trip, for readiness checks */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface MigrateOptions {
  /**
   * Called, instead of failing, when the database holds migrations this code
   * does not know while every one it knows is applied: a newer release
   * migrated it (a node of the previous version restarted during a rolling
   * upgrade). Migrations are additive, so such a node runs on as it is.
   * Without it, that case fails as any other mismatch does.
   */
  onNewer?: (names: string[]) => void;
}

export interface DatabaseOptions {
  /** postgres://… or undefined for SQLite */
  databaseUrl?: string | undefined;
  /** SQLite file; `:memory:` for a throwaway database */
  sqlitePath?: string;
  sqliteSynchronous?: 'full' | 'normal';
  /** PostgreSQL schema to use (tests isolate themselves this way); created if missing */
  pgSchema?: string;
  pgPoolSize?: number;
}

const migrations: Record<string, Migration> = {
  '001-initial': initial,
  '002-partial-indexes': partialIndexes,
  '003-key-roles-unmatched-receipts': keyRoles,
  '004-smpp-server': smppServer,
  '005-inbound': inbound,
  '006-connectors-routes': connectorsRoutes,
  '007-webhooks': webhooks,
  '008-mno': mno,
  '009-sent-expiry': sentExpiry,
  '010-routing': routing,
  '011-senders-settings': sendersSettings,
  '013-cabinet-users': cabinetUsers,
  '014-channels': channels,
  '015-contacts': contacts,
  '016-cascades': cascades,
  '017-open-parts': openParts,
  '018-mailing-runner': mailingRunner,
  '019-exports': exportJobs,
  '020-templates-balance': templatesBalance,
  '022-cabinet-switches-export-chunks': cabinetSwitchesExportChunks,
  '024-verification-sweep': verificationSweep,
  '025-unmatched-templates': unmatchedTemplates,
  '026-contact-imports': contactImports,
  '027-mailing-cascade': mailingCascade,
  '030-api-key-projects': apiKeyProjects,
  '031-mailing-cancel': mailingCancel,
  '032-module-switches': moduleSwitches,
  '033-user-preferences': userPreferences,
  '034-unlogged-import-rows': unloggedImportRows,
  '035-mailing-templates': mailingTemplates,
  '037-mailing-params': mailingParams,
  '038-mailing-audience-size': mailingAudienceSize,
  '039-part-concat-ref': partConcatRef,
  '040-mailing-count-index': mailingCountIndex,
  '041-contact-import-lines': contactImportLines,
  '042-callback-given-up': callbackGivenUp,
  '043-smpp-receipt-marks': smppReceiptMarks,
  '044-mailing-reference-fks': mailingReferenceFks,
};

// bigint columns hold epoch milliseconds, well inside Number's exact range.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/**
 * node:sqlite behind the interface Kysely's SqliteDialect expects. Prepared
 * statements are cached by SQL text: the pipeline runs the same few statements
 * thousands of times a second.
 */
class NodeSqliteAdapter implements SqliteDatabase {
  readonly #db: DatabaseSync;
  readonly #cache = new Map<string, SqliteStatement>();

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  close(): void {
    this.#cache.clear();
    this.#db.close();
  }

  prepare(sql: string): SqliteStatement {
    let statement = this.#cache.get(sql);
    if (statement) return statement;
    // Two threads write to the file. Every transaction here writes, so it takes the write lock
    // up front: a deferred one that read first could not upgrade and would fail with SQLITE_BUSY.
    const raw: StatementSync = this.#db.prepare(sql === 'begin' ? 'begin immediate' : sql);
    statement = {
      reader: raw.columns().length > 0,
      all: (params) => raw.all(...(params as never[])),
      run: (params) => raw.run(...(params as never[])),
      iterate: (params) => raw.iterate(...(params as never[])) as IterableIterator<unknown>,
    };
    if (this.#cache.size > 500) this.#cache.clear();
    this.#cache.set(sql, statement);
    return statement;
  }
}

export function openSqlite(file: string, synchronous: 'full' | 'normal' = 'full'): DatabaseSync {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
  const db = new DatabaseSync(file, { timeout: 5000 });
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${synchronous.toUpperCase()}; PRAGMA foreign_keys = ON;`);
  return db;
}

/** Opens the store: PostgreSQL when a URL is given, otherwise SQLite. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.databaseUrl) {
    const schema = options.pgSchema;
    if (schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name ${schema}`);
    const poolConfig: pg.PoolConfig = { connectionString: options.databaseUrl, max: options.pgPoolSize ?? 10 };
    if (schema) {
      const setup = new pg.Client({ connectionString: options.databaseUrl });
      await setup.connect();
      try {
        await setup.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      } catch (err) {
        // IF NOT EXISTS does not hold against a concurrent CREATE SCHEMA (nodes starting together):
        // the loser waits for the winner's commit and fails on the catalogue's unique index. It exists now.
        if ((err as { code?: unknown }).code !== '23505' && (err as { code?: unknown }).code !== '42P06') throw err;
      } finally {
        await setup.end();
      }
      poolConfig.options = `-c search_path=${schema}`;
    }
    const pool = new pg.Pool(poolConfig);
    // A connection error must not crash the process: an idle client's is reported here and the pool
    // replaces it; a checked-out client's (the server went away between two statements of a
    // transaction) would be an unhandled 'error' event; its next query fails instead.
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    return { ...wrap(db, 'postgres', schema), pool };
  }
  const file = options.sqlitePath ?? ':memory:';
  const raw = openSqlite(file, options.sqliteSynchronous);
  const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: new NodeSqliteAdapter(raw) }) });
  return wrap(db, 'sqlite');
}

function wrap(db: Kysely<DB>, dialect: Dialect, schema?: string): Database {
  return {
    db,
    dialect,
    async migrate(options: MigrateOptions = {}) {
      // Several nodes may start at once on an empty database. Kysely creates its bookkeeping tables
      // tolerating a concurrent creator (it checks again after an error) and runs the pending
      // migrations in one transaction under a session advisory lock (pg_advisory_lock, one key for the
      // database), reading what is applied only once it holds the lock: the first node applies them,
      // the others wait and find none pending. SQLite is one process's file (no lock is taken there).
      // Kysely looks for its bookkeeping tables across schemas; name ours so another schema's do not count.
      const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations }, ...(schema ? { migrationTableSchema: schema } : {}) });
      let { error, results } = await migrator.migrateToLatest();
      // Kysely looks for its table by listing every schema's tables; another schema dropped meanwhile
      // (test suites share a database) fails that listing, and only then: it is worth another try.
      for (let attempt = 0; attempt < 3 && isOtherSchemaGone(error, schema); attempt++) ({ error, results } = await migrator.migrateToLatest());
      if (error && options.onNewer && /^corrupted migrations: previously executed migration .+ is missing$/.test((error as Error).message)) {
        const table = schema ? sql.table(`${schema}.kysely_migration`) : sql.table('kysely_migration');
        const executed = (await sql<{ name: string }>`select name from ${table}`.execute(db)).rows.map((r) => r.name);
        const known = Object.keys(migrations);
        if (known.every((name) => executed.includes(name))) {
          options.onNewer(executed.filter((name) => !known.includes(name)).sort());
          return [];
        }
      }
      if (error) {
        const failed = results?.find((r) => r.status === 'Error');
        throw new Error(`migration ${failed?.migrationName ?? '?'} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
    },
    async ping() {
      await db.selectFrom('accounts').select('id').limit(1).execute();
    },
    async close() {
      await db.destroy();
    },
  };
}

/** 3F000 (a schema) or 42P01 (a table of it) gone, and not ours. */
function isOtherSchemaGone(error: unknown, schema: string | undefined): boolean {
  const e = error as { code?: unknown; message?: unknown } | undefined;
  if ((e?.code !== '3F000' && e?.code !== '42P01') || typeof e.message !== 'string') return false;
  return schema === undefined || !(e.message.includes(`"${schema}"`) || e.message.includes(`"${schema}.`));
}
