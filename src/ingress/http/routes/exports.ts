import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { randomUUID } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { Type } from 'typebox';
import { ApiError } from '../../../errors.ts';
import { ExportsRepository, type ExportRow } from '../../../store/exports.ts';
import { requireAuth } from '../auth.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { HttpDeps } from '../deps.ts';
import { ErrorSchema, IdParams } from '../schemas.ts';
import { keepLeases, LEASE_MS } from './job-leases.ts';
import { csvOf, reportFilter, reportRows, ReportFiltersSchema, writeXlsx, type ReportFilters } from './reports.ts';

const ExportSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('export'),
    format: Type.Enum(['csv', 'xlsx']),
    filters: ReportFiltersSchema,
    status: Type.Enum(['queued', 'running', 'ready', 'failed', 'expired'], { description: '`ready`: `download_url` gives the file until `expires_at`; `failed`: `error` says why; `expired`: the file was deleted after its retention time' }),
    rows: Type.Integer({ description: 'rows written so far (all of them once ready)' }),
    bytes: Type.Union([Type.Integer(), Type.Null()], { description: 'the file size once ready' }),
    error: Type.Union([Type.String(), Type.Null()]),
    download_url: Type.Union([Type.String(), Type.Null()], { description: 'relative URL of the file once ready; it needs the same authentication and account' }),
    created_at: Type.String({ format: 'date-time' }),
    completed_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'when a ready file is deleted (DEPESHA_EXPORT_RETENTION_HOURS after it was ready)' }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        id: 'exp_01KBD7Q6Y3A9W0C2XJ1V5T8M4N',
        object: 'export',
        format: 'csv',
        filters: { status: 'delivered', since: '2026-12-01T00:00:00.000Z' },
        status: 'ready',
        rows: 120345,
        bytes: 18234012,
        error: null,
        download_url: '/v1/exports/exp_01KBD7Q6Y3A9W0C2XJ1V5T8M4N/file',
        created_at: '2026-12-02T03:00:00.000Z',
        completed_at: '2026-12-02T03:00:41.000Z',
        expires_at: '2026-12-09T03:00:41.000Z',
      },
    ],
  },
);

const TYPES = { csv: 'text/csv; charset=utf-8', xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' } as const;
const security = [{ bearerAuth: [] }];

/** Ready but past its expiry is expired, whether or not the sweep has deleted the file yet. */
const statusOf = (e: ExportRow, now: number) => (e.status === 'ready' && e.expires_at !== null && e.expires_at <= now ? 'expired' : e.status) as 'queued' | 'running' | 'ready' | 'failed' | 'expired';

const present = (e: ExportRow, now = Date.now()) => ({
  id: e.id,
  object: 'export' as const,
  format: e.format as 'csv' | 'xlsx',
  filters: JSON.parse(e.filters) as ReportFilters,
  status: statusOf(e, now),
  rows: e.rows,
  bytes: e.bytes,
  error: e.error,
  download_url: statusOf(e, now) === 'ready' ? `/v1/exports/${e.id}/file` : null,
  created_at: new Date(e.created_at).toISOString(),
  completed_at: e.completed_at === null ? null : new Date(e.completed_at).toISOString(),
  expires_at: e.expires_at === null ? null : new Date(e.expires_at).toISOString(),
});

// Progress is written every this many rows.
const PROGRESS_EVERY = 10_000;
// The file goes to the database in chunks of this size: what one export holds in memory.
const CHUNK_BYTES = 256 * 1024;
// A job is its process's while the process renews the lease (job-leases.ts); a lapsed one is failed by whichever process sweeps first.
const SWEEP_MS = 60_000;

/** A writable that stores what it is given as the export's chunks, CHUNK_BYTES at a time (back-pressure: one insert at a time). */
function chunkSink(jobs: ExportsRepository, id: string): Writable & { bytes(): number } {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let seq = 0;
  let total = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    const data = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    await jobs.appendChunk(id, seq++, data);
  };
  const sink = new Writable({
    write(chunk: Buffer | string, encoding, callback) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
      pending.push(buffer);
      pendingBytes += buffer.length;
      total += buffer.length;
      if (pendingBytes < CHUNK_BYTES) return callback();
      flush().then(() => callback(), callback);
    },
    final(callback) {
      flush().then(() => callback(), callback);
    },
  });
  return Object.assign(sink, { bytes: () => total });
}

/** The export's file read back a chunk at a time. */
function chunkSource(jobs: ExportsRepository, id: string): Readable {
  return Readable.from(
    (async function* () {
      for (let seq = 0; ; seq++) {
        const data = await jobs.chunk(id, seq);
        if (data === undefined) return;
        yield Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      }
    })(),
    { objectMode: false },
  );
}

/**
 * Background exports of the delivery report (the cabinet's large exports):
 * POST makes a job, which this process writes into the database as chunks of
 * 1 MiB (`export_chunks`), one keyset page of rows at a time, one job at a
 * time; GET says how far it is and, once ready, the file downloads from
 * `/v1/exports/{id}/file` on any API node until it expires.
 */
export function exportsRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  const jobs = new ExportsRepository(deps.database.db);
  const owner = randomUUID();
  const retentionMs = deps.config.exportRetentionHours * 3_600_000;
  // One export at a time per process: each is a long read, and the others wait their turn.
  let queue: Promise<void> = Promise.resolve();

  async function run(job: ExportRow): Promise<void> {
    const account = await deps.accounts.getAccount(job.account_id);
    try {
      if (!account) throw new Error('the account is gone');
      if (!(await jobs.running(job.account_id, job.id, owner))) return; // failed meanwhile (this process's lease lapsed)
      const filter = reportFilter(JSON.parse(job.filters) as ReportFilters, account.default_region);
      let count = 0;
      async function* counted() {
        for await (const row of reportRows(deps, job.account_id, filter)) {
          count++;
          if (count % PROGRESS_EVERY === 0) await jobs.progress(job.account_id, job.id, count);
          yield row;
        }
      }
      const out = chunkSink(jobs, job.id);
      if (job.format === 'csv') {
        await pipeline(csvOf(counted()), out);
      } else {
        await writeXlsx(counted(), out);
        await finished(out);
      }
      await jobs.finish(job.account_id, job.id, { rows: count, bytes: out.bytes(), retentionMs });
    } catch (err) {
      deps.log.error({ err, export_id: job.id }, 'an export failed');
      await jobs.finish(job.account_id, job.id, { error: err instanceof Error ? err.message : String(err) });
    }
  }

  const sweep = async () => {
    await jobs.failLapsed();
    while ((await jobs.purgeExpired()) > 0);
  };

  return async (app) => {
    // What a stopped process left unfinished is not resumed: failed once its lease lapsed. Other nodes' jobs are theirs.
    await keepLeases(app, deps.log, 'export', { renew: (until) => jobs.renew(owner, until), sweep }, SWEEP_MS);

    app.post(
      '/v1/exports',
      {
        schema: {
          summary: 'Export the delivery report in the background',
          description:
            'Starts writing the delivery report of the filters (as GET /v1/reports/messages takes them) to a file. Answers at once with the job; poll GET /v1/exports/{id} until `status` is `ready`, then download `download_url`. For reports too large to wait for. Every role may export (it changes nothing).',
          tags: ['reports'],
          security,
          body: Type.Object({ format: Type.Enum(['csv', 'xlsx']), ...ReportFiltersSchema.properties }, { additionalProperties: false }),
          response: { 202: ExportSchema, 400: ErrorSchema, 401: ErrorSchema, 422: ErrorSchema },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const { format, ...filters } = request.body;
        reportFilter(filters, auth.account.default_region); // refuses bad filters now, not in the background
        const job = await jobs.create({ accountId: auth.account.id, format, filters: filters as Record<string, string>, createdBy: auth.session?.userId ?? auth.keyId, owner, leaseUntil: Date.now() + LEASE_MS });
        queue = queue.then(() => run(job));
        return reply.code(202).send(present(job));
      },
    );

    app.get(
      '/v1/exports',
      {
        schema: {
          summary: 'Exports',
          description: "The account's exports, newest first.",
          tags: ['reports'],
          security,
          querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })), cursor: Type.Optional(Type.String()) }, { additionalProperties: false }),
          response: { 200: Type.Object({ data: Type.Array(ExportSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), 400: ErrorSchema, 401: ErrorSchema },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const limit = request.query.limit ?? 20;
        const beforeId = request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, 'exp');
        const rows = await jobs.list(auth.account.id, limit + 1, beforeId);
        const page = rows.slice(0, limit);
        return { data: page.map((e) => present(e)), next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
      },
    );

    app.get(
      '/v1/exports/:id',
      { schema: { summary: 'An export and its status', tags: ['reports'], security, params: IdParams, response: { 200: ExportSchema, 401: ErrorSchema, 404: ErrorSchema } } },
      async (request) => {
        const auth = requireAuth(request);
        const job = await jobs.get(auth.account.id, request.params.id);
        if (!job) throw new ApiError('not_found', `no export ${request.params.id} in this account`);
        return present(job);
      },
    );

    app.get(
      '/v1/exports/:id/file',
      {
        schema: {
          summary: "Download an export's file",
          description: 'The file of a `ready` export, streamed from the database (any API node serves it). Only the account that made it can download it; after `expires_at` it answers 410.',
          tags: ['reports'],
          security,
          params: IdParams,
          response: {
            200: { description: 'the report file', content: { 'text/csv': { schema: Type.String() }, 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': { schema: Type.String({ format: 'binary' }) } } },
            401: ErrorSchema,
            404: ErrorSchema,
            409: ErrorSchema,
            410: ErrorSchema,
          },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const job = await jobs.get(auth.account.id, request.params.id);
        if (!job) throw new ApiError('not_found', `no export ${request.params.id} in this account`);
        if (statusOf(job, Date.now()) === 'expired') throw new ApiError('export_expired', `export ${job.id} expired at ${new Date(job.expires_at!).toISOString()} and its file was deleted; create it again`);
        if (job.status !== 'ready') throw new ApiError('export_not_ready', `export ${job.id} is ${job.status}${job.error ? `: ${job.error}` : ''}; download it when GET /v1/exports/${job.id} says ready`);
        const stamp = new Date(job.created_at).toISOString().slice(0, 19).replace(/[-:]/g, '');
        reply.header('content-disposition', `attachment; filename="messages-${stamp}.${job.format}"`);
        if (job.bytes !== null) reply.header('content-length', job.bytes);
        return reply.type(TYPES[job.format as 'csv' | 'xlsx']).send(chunkSource(jobs, job.id) as never);
      },
    );
  };
}
