import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { stringify } from 'csv-stringify';
import { PassThrough, Readable, type Writable } from 'node:stream';
import { Type } from 'typebox';
import { MESSAGE_STATUSES } from '../../../domain/statuses.ts';
import { ApiError } from '../../../errors.ts';
import { normalizePhone } from '../../../sms/phone.ts';
import type { MessageFilter } from '../../../store/messages.ts';
import { requireAuth } from '../auth.ts';
import type { HttpDeps } from '../deps.ts';
import { presentMessage } from '../present.ts';
import { ErrorSchema } from '../schemas.ts';
import { loadExcel } from '../xlsx.ts';

/** The delivery report's columns (S21): header and how to read each from a message as the API presents it. */
type Presented = ReturnType<typeof presentMessage>;
const COLUMNS: [string, (m: Presented) => string | number | null][] = [
  ['id', (m) => m.id],
  ['created_at', (m) => m.created_at],
  ['to', (m) => m.to],
  ['operator', (m) => m.operator],
  ['traffic_type', (m) => m.traffic_type],
  ['from', (m) => m.from],
  ['text', (m) => m.text],
  ['parts', (m) => m.parts_count],
  ['encoding', (m) => m.encoding],
  ['status', (m) => m.status],
  ['sent_at', (m) => m.sent_at],
  ['delivered_at', (m) => m.delivered_at],
  ['reason', (m) => m.reason?.code ?? null],
  ['reason_description', (m) => m.reason?.description ?? null],
  ['provider_code', (m) => m.reason?.provider_code ?? null],
  ['group', (m) => m.group],
  ['project', (m) => m.project],
  ['reference', (m) => m.reference],
];

// Rows read per query: memory stays flat whatever the report's size.
const CHUNK = 1000;


/** The report's filters as the query or an export job gives them. */
export interface ReportFilters {
  to?: string | undefined;
  group?: string | undefined;
  project?: string | undefined;
  status?: (typeof MESSAGE_STATUSES)[number] | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

export const ReportFiltersSchema = Type.Object(
  {
    to: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    group: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    project: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    status: Type.Optional(Type.Enum([...MESSAGE_STATUSES])),
    since: Type.Optional(Type.String({ format: 'date-time' })),
    until: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);

/** The repository's filter from the report's, checked as History checks them. */
export function reportFilter(q: ReportFilters, defaultRegion: string): Omit<MessageFilter, 'limit' | 'beforeId'> {
  const filter: Omit<MessageFilter, 'limit' | 'beforeId'> = { group: q.group, project: q.project, status: q.status };
  if (q.to !== undefined) {
    const phone = normalizePhone(q.to, defaultRegion);
    if (!phone.ok) throw new ApiError('invalid_phone_number', `"${q.to}" is not a valid phone number: ${phone.issue}`, [{ field: 'to', issue: phone.issue }]);
    filter.recipient = phone.e164;
  }
  if (q.since !== undefined) filter.since = Date.parse(q.since);
  if (q.until !== undefined) filter.until = Date.parse(q.until);
  if (filter.since !== undefined && filter.until !== undefined && filter.since > filter.until) {
    throw new ApiError('invalid_period', '`since` is after `until`', [{ field: 'since', issue: 'must not be after until' }]);
  }
  return filter;
}

/** The report's rows, newest first, read in keyset pages of CHUNK so memory stays flat. */
export async function* reportRows(deps: Pick<HttpDeps, 'messages'>, accountId: string, filter: Omit<MessageFilter, 'limit' | 'beforeId'>): AsyncGenerator<(string | number | null)[]> {
  let beforeId: string | undefined;
  for (;;) {
    const page = await deps.messages.list(accountId, { ...filter, beforeId, limit: CHUNK });
    for (const row of page) {
      const m = presentMessage(row);
      yield COLUMNS.map(([, read]) => read(m));
    }
    if (page.length < CHUNK) return;
    beforeId = page[page.length - 1]!.id;
  }
}

/** The CSV of the rows: a header line, then one line a row. */
export function csvOf(rows: AsyncIterable<(string | number | null)[]>): NodeJS.ReadableStream {
  const csv = stringify({ header: true, columns: REPORT_COLUMNS });
  Readable.from(rows).pipe(csv);
  return csv;
}

export const REPORT_COLUMNS = COLUMNS.map(([c]) => c);

/**
 * GET /v1/reports/messages: the delivery report, History's filters, as a CSV
 * or XLSX download streamed while it is read (keyset pages of 1,000 rows).
 */
export function reportsRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/reports/messages',
      {
        schema: {
          summary: 'Delivery report export',
          description: `Every message matching the filters (as in GET /v1/messages), newest first, with the columns ${COLUMNS.map(([c]) => `\`${c}\``).join(', ')}. Times are RFC 3339 UTC. The file streams as it is read.`,
          tags: ['reports'],
          security: [{ bearerAuth: [] }],
          querystring: Type.Object({ format: Type.Enum(['csv', 'xlsx'], { description: '`csv` (UTF-8, comma, header row) or `xlsx`' }), ...ReportFiltersSchema.properties }, { additionalProperties: false }),
          response: {
            200: {
              description: 'the report file',
              content: { 'text/csv': { schema: Type.String({ examples: [`${COLUMNS.map(([c]) => c).join(',')}\n`] }) }, 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': { schema: Type.String({ format: 'binary' }) } },
            },
            400: ErrorSchema,
            401: ErrorSchema,
            422: ErrorSchema,
          },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const q = request.query;
        const filter = reportFilter(q, auth.account.default_region);
        const rows = () => reportRows(deps, auth.account.id, filter);
        const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, '');
        reply.header('content-disposition', `attachment; filename="messages-${stamp}.${q.format}"`);
        if (q.format === 'csv') {
          const csv = csvOf(rows());
          // A stream: the schema above types the body as the file it becomes.
          return reply.type('text/csv; charset=utf-8').send(csv as never);
        }
        const out = new PassThrough();
        void writeXlsx(rows(), out).catch((err: unknown) => {
          request.log.error({ err }, 'the XLSX report failed while streaming');
          out.destroy(err as Error);
        });
        return reply.type('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet').send(out as never);
      },
    );
  };
}

/** Writes the rows as one worksheet, committing each row so the workbook holds none of them. */
export async function writeXlsx(rows: AsyncIterable<(string | number | null)[]>, out: Writable): Promise<void> {
  const workbook = new (await loadExcel()).stream.xlsx.WorkbookWriter({ stream: out, useStyles: false, useSharedStrings: false });
  const sheet = workbook.addWorksheet('messages');
  sheet.columns = COLUMNS.map(([header]) => ({ header, key: header }));
  for await (const row of rows) {
    sheet.addRow(row).commit();
    // Waits for the reader when it falls behind, as pipe() does for the CSV.
    if (out.writableNeedDrain) await new Promise((resolve) => out.once('drain', resolve));
  }
  sheet.commit();
  await workbook.commit();
}
