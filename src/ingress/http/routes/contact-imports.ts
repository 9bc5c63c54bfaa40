import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { randomUUID } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { Type } from 'typebox';
import { ApiError, type ErrorDetail } from '../../../errors.ts';
import type { Logger } from '../../../log.ts';
import { ContactImportsRepository, MAX_KEPT_PROBLEMS, type ContactImportRow, type ContactImportStatus } from '../../../store/contact-imports.ts';
import type { ContactPatch } from '../../../store/contacts.ts';
import type { Database } from '../../../store/db.ts';
import { requireAuth } from '../auth.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { ErrorSchema, IdParams } from '../schemas.ts';
import { checkContactsFile, csvRows, MAX_IMPORT_ROWS, TooManyRows, xlsxRows } from './contacts-files.ts';
import { keepLeases, LEASE_MS, RENEW_MS } from './job-leases.ts';

/** The largest file an import takes (bytes), CSV or XLSX. */
export const MAX_IMPORT_BYTES = 1024 * 1024 * 1024;
/** Checked rows written to the staging table per transaction. */
const STAGE_BATCH_ROWS = 1000;
/**
 * What is read and dropped of an upload after it was refused, so that the
 * answer goes out and the connection serves the client's next request; a
 * client still sending past it has its connection closed.
 */
export const DRAIN_MAX_BYTES = 64 * 1024 * 1024;
/** A failing apply (a busy SQLite file, a lost connection) is tried again this many times, resuming where it stopped. */
const APPLY_ATTEMPTS = 5;

export const ContactImportSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('contact_import'),
    project_id: Type.String(),
    format: Type.Enum(['csv', 'xlsx']),
    status: Type.Enum(['received', 'checking', 'applying', 'completed', 'failed'], {
      description:
        '`received`: the file is coming in, each row checked and staged as it arrives; `checking`: the file is in, guids repeated across rows are looked for; `applying`: no row is bad, the rows are being written to the contacts; `completed`; `failed`: `bad_rows` and `problems` (or `error`) say why, and nothing was imported',
    }),
    rows: Type.Integer({ description: 'data rows read (the header and skipped rows not counted)' }),
    bad_rows: Type.Integer(),
    skipped_rows: Type.Integer({ description: 'rows with no value in any cell (`,,,`, a blank line, an empty sheet row): neither imported nor bad' }),
    problems: Type.Array(Type.Object({ field: Type.String({ description: '`row N`: of a CSV file the line the row starts on (the header is line 1 unless blank lines come before it), of an XLSX sheet its row number' }), issue: Type.String() }), { description: `the first ${MAX_KEPT_PROBLEMS} problems, in row order` }),
    applied_rows: Type.Integer({ description: 'rows written to the contacts so far' }),
    created: Type.Integer(),
    updated: Type.Integer(),
    error: Type.Union([Type.String(), Type.Null()]),
    created_at: Type.String({ format: 'date-time' }),
    received_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'when the whole file was in' }),
    completed_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  {
    additionalProperties: false,
    examples: [
      {
        id: 'imp_01KBF3Q6Y3A9W0C2XJ1V5T8M4N',
        object: 'contact_import',
        project_id: 'prj_01KB2Z1T6S0R7Q4P3N2M1L0K9J',
        format: 'csv',
        status: 'failed',
        rows: 1000000,
        bad_rows: 2,
        skipped_rows: 1,
        problems: [
          { field: 'row 17', issue: 'phones.0: "12345" is not a valid phone number: too short' },
          { field: 'row 90211', issue: 'guid crm-5 repeats row 6' },
        ],
        applied_rows: 0,
        created: 0,
        updated: 0,
        error: '2 bad row(s); nothing was imported',
        created_at: '2026-12-02T20:00:00.000Z',
        received_at: '2026-12-02T20:00:41.000Z',
        completed_at: '2026-12-02T20:00:42.000Z',
      },
    ],
  },
);

export function presentImport(job: ContactImportRow) {
  return {
    id: job.id,
    object: 'contact_import' as const,
    project_id: job.project_id,
    format: job.format as 'csv' | 'xlsx',
    status: job.status as ContactImportStatus,
    rows: job.rows,
    bad_rows: job.bad_rows,
    skipped_rows: job.skipped_rows,
    problems: JSON.parse(job.problems) as ErrorDetail[],
    applied_rows: job.status === 'completed' ? job.rows : Math.max(0, job.applied_row - 1),
    created: job.created,
    updated: job.updated,
    error: job.error,
    created_at: new Date(job.created_at).toISOString(),
    received_at: job.received_at === null ? null : new Date(job.received_at).toISOString(),
    completed_at: job.completed_at === null ? null : new Date(job.completed_at).toISOString(),
  };
}

class TooLarge extends Error {}

/**
 * The file is more than an import takes (bytes or rows): refused as a whole,
 * as soon as the limit is passed. The job is failed with its staged rows
 * deleted; the routes answer 413 `import_too_large`.
 */
export class ImportTooLarge extends Error {
  readonly importId: string;
  constructor(message: string, importId: string) {
    super(message);
    this.importId = importId;
  }

  toApiError(): ApiError {
    return new ApiError('import_too_large', `${this.message}; nothing was imported (import ${this.importId} is failed)`, [{ field: '(body)', issue: this.message }]);
  }
}

/**
 * Stops reading `upload` into the parsers and reads what is left of it,
 * dropping it (at most DRAIN_MAX_BYTES, then the connection is closed): a
 * request left half-read would hold the client's upload, and its connection,
 * forever.
 */
function drain(upload: Readable): void {
  upload.unpipe();
  let dropped = 0;
  upload.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DRAIN_MAX_BYTES) upload.destroy();
  });
  upload.resume();
}

/** Passes the upload on, failing it once it passed `max` bytes. */
function limited(body: Readable, max: number): Readable {
  let bytes = 0;
  const out = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (bytes > max) callback(new TooLarge(`the file is larger than ${max} bytes; split it`));
      else callback(null, chunk);
    },
  });
  body.once('error', (err) => out.destroy(err));
  return body.pipe(out);
}

/**
 * Staged contact imports (docs/contacts.md): `receive` streams an upload
 * through the row checks into the staging table, a batch per transaction, and
 * checks the whole file; a job with no bad row is then applied here, one job
 * at a time per process, under a lease (job-leases.ts). A process that finds
 * an applying job whose lease lapsed takes it over and applies the rest.
 */
export class ContactImportRunner {
  readonly repo: ContactImportsRepository;
  readonly owner = randomUUID();
  readonly #log: Logger;
  #queue: Promise<void> = Promise.resolve();
  #stopping = false;

  readonly #maxRows: number;
  readonly #maxBytes: number;

  /** `limits`: lower than MAX_IMPORT_ROWS and MAX_IMPORT_BYTES (internal: tests) */
  constructor(database: Database, log: Logger, limits: { rows?: number | undefined; bytes?: number | undefined } = {}) {
    this.repo = new ContactImportsRepository(database);
    this.#log = log;
    this.#maxRows = limits.rows ?? MAX_IMPORT_ROWS;
    this.#maxBytes = limits.bytes ?? MAX_IMPORT_BYTES;
  }

  /**
   * Reads, checks and stages the file; returns the job once it is checked:
   * `failed`, or `applying` (queued here). A file past the limits rejects
   * with ImportTooLarge as soon as it passed them (the rest of the upload
   * drained), its job failed and nothing of it left staged.
   */
  async receive(input: { accountId: string; projectId: string; defaultRegion: string; format: 'csv' | 'xlsx'; body: Readable; createdBy: string | null; maxBytes?: number }): Promise<{ job: ContactImportRow; applied: Promise<void> }> {
    const job = await this.repo.create({ accountId: input.accountId, projectId: input.projectId, format: input.format, createdBy: input.createdBy, owner: this.owner, leaseUntil: Date.now() + LEASE_MS });
    const body = limited(input.body, input.maxBytes ?? this.#maxBytes);
    const report = { columns: [] as string[], rows: 0, badRows: 0, skippedRows: 0, problems: [] as ErrorDetail[] };
    let batch: { row: number; at: number; patch: ContactPatch }[] = [];
    // One batch is written while the next is parsed (on PostgreSQL the write does not hold the event loop).
    let writing: Promise<void> = Promise.resolve();
    let stageError: unknown;
    const flush = async () => {
      await writing;
      const rows = batch;
      batch = [];
      writing = this.repo.stage(input.accountId, job.id, this.owner, rows, { ...report, problems: [...report.problems] });
      // Its failure is taken up by the next flush; until then (the next batch still parsing) it must not count as unhandled, which would end the process.
      writing.catch((err: unknown) => (stageError = err));
    };
    try {
      const source = input.format === 'csv' ? csvRows(body) : xlsxRows(body);
      for await (const item of checkContactsFile(source, input.defaultRegion, this.#maxRows)) {
        if ('header' in item) {
          report.columns = item.header;
          continue;
        }
        if ('skipped' in item) {
          report.skippedRows++;
          continue;
        }
        if (item.row > 1) report.rows = item.row - 1;
        if ('issues' in item) {
          report.badRows++;
          for (const issue of item.issues) if (report.problems.length < MAX_KEPT_PROBLEMS) report.problems.push({ field: `row ${item.at}`, issue });
          continue;
        }
        batch.push({ row: item.row, at: item.at, patch: item.patch });
        if (batch.length >= STAGE_BATCH_ROWS) await flush();
      }
      await flush();
      await writing;
    } catch (err) {
      // What is left of the upload is read and dropped (while the staged rows are deleted), so the answer goes out.
      drain(input.body);
      body.destroy();
      await writing.catch(() => {});
      const reason = (err as Error).message.split('\n')[0];
      const tooLarge = err instanceof TooLarge || err instanceof TooManyRows;
      const message = tooLarge ? err.message : err === stageError ? `the rows could not be staged: ${reason}` : `the file cannot be read: ${reason}`;
      await this.repo.fail(input.accountId, job.id, message, report);
      if (tooLarge) throw new ImportTooLarge(message, job.id);
      return { job: (await this.repo.get(input.accountId, job.id))!, applied: Promise.resolve() };
    }
    const checked = await this.repo.check(input.accountId, job.id, this.owner, report);
    if (!checked) throw new Error(`contact import ${job.id} was taken from this process while it was received`);
    return { job: checked, applied: checked.status === 'applying' ? this.enqueue(checked) : Promise.resolve() };
  }

  /** Applies the job after the ones queued before it; resolves when it ended here (or stopped with the process). */
  enqueue(job: ContactImportRow): Promise<void> {
    const run = this.#queue.then(() => this.#apply(job));
    this.#queue = run;
    return run;
  }

  async #apply(job: ContactImportRow): Promise<void> {
    const between = async () => {
      if (this.#stopping) throw new Stopped();
      await new Promise((resolve) => setImmediate(resolve));
    };
    for (let attempt = 1; ; attempt++) {
      try {
        if (this.#stopping) return;
        await this.repo.applyAll(job.account_id, job.id, this.owner, between);
        return;
      } catch (err) {
        if (err instanceof Stopped || this.#stopping) return; // the lease lapses; the next process applies the rest
        if (attempt >= APPLY_ATTEMPTS) {
          this.#log.error({ err, import_id: job.id }, 'a contact import failed while applied');
          const current = await this.repo.get(job.account_id, job.id);
          const applied = current ? Math.max(0, current.applied_row - 1) : 0;
          await this.repo.fail(job.account_id, job.id, `applying failed${applied > 0 ? ` after ${applied} row(s) were written` : '; nothing was imported'}: ${err instanceof Error ? err.message : String(err)}`);
          return;
        }
        this.#log.warn({ err, import_id: job.id, attempt }, 'applying a contact import failed; trying again from where it stopped');
        await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
      }
    }
  }

  /** Fails uploads cut off by a stopped process, and takes over (and applies) applying jobs whose lease lapsed. */
  async sweep(now = Date.now()): Promise<ContactImportRow[]> {
    const taken = await this.repo.lapsed(this.owner, now + LEASE_MS, now);
    for (const job of taken) {
      this.#log.info({ import_id: job.id, applied_row: job.applied_row }, 'taking over a contact import whose process stopped');
      void this.enqueue(job);
    }
    return taken;
  }

  /** Resolves once every job queued so far has ended here. */
  idle(): Promise<void> {
    return this.#queue.catch(() => {});
  }

  /** Stops after the chunk being applied; what is left is applied by the next process once this one's lease lapsed. */
  async stop(maxWaitMs = 5000): Promise<void> {
    this.#stopping = true;
    // A PostgreSQL apply is one transaction: not waited for past maxWaitMs; closing the pool rolls it back, and the job is taken over later.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#queue.catch(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, maxWaitMs)))]);
    clearTimeout(timer);
  }

  /** Keeps this process's leases and sweeps lapsed jobs until the app closes. */
  async keep(app: FastifyInstance): Promise<void> {
    await keepLeases(app, this.#log, 'contact import', { renew: (until) => this.repo.renew(this.owner, until), sweep: async () => void (await this.sweep()) }, RENEW_MS);
    app.addHook('onClose', () => this.stop());
  }
}

class Stopped extends Error {}

const security = [{ bearerAuth: [] }];

/** GET /v1/contacts/imports and /v1/contacts/imports/{id} (POST lives with the file parsers in contacts.ts). */
export function contactImportReadRoutes(app: Parameters<FastifyPluginAsyncTypebox>[0], runner: ContactImportRunner): void {
  app.get(
    '/v1/contacts/imports',
    {
      schema: {
        summary: 'Contact imports',
        description: "The account's contact imports, newest first.",
        tags: ['contacts'],
        security,
        querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })), cursor: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false }),
        response: { 200: Type.Object({ data: Type.Array(ContactImportSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), 400: ErrorSchema, 401: ErrorSchema },
      },
    },
    async (request) => {
      const accountId = requireAuth(request).account.id;
      const limit = request.query.limit ?? 50;
      const rows = await runner.repo.list(accountId, limit + 1, request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, 'imp'));
      const page = rows.slice(0, limit);
      return { data: page.map(presentImport), next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
    },
  );
  app.get(
    '/v1/contacts/imports/:id',
    { schema: { summary: 'A contact import and its report', tags: ['contacts'], security, params: IdParams, response: { 200: ContactImportSchema, 401: ErrorSchema, 404: ErrorSchema } } },
    async (request) => {
      const accountId = requireAuth(request).account.id;
      const job = await runner.repo.get(accountId, request.params.id);
      if (!job) throw new ApiError('not_found', `no contact import ${request.params.id} in this account`);
      return presentImport(job);
    },
  );
}
