import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, type ErrorDetail } from '../../errors.ts';

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** Turns JSON-schema errors into `{field, issue}` details a person can act on; `prefix` is a dotted path. */
export function detailsFromAjv(errors: readonly AjvError[], prefix = ''): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const path = [prefix, ...e.instancePath.split('/')].filter(Boolean);
    let issue = e.message ?? 'is invalid';
    if (e.keyword === 'additionalProperties') {
      path.push(String(e.params.additionalProperty));
      issue = 'unknown field';
    } else if (e.keyword === 'required') {
      path.push(String(e.params.missingProperty));
      issue = 'is required';
    } else if (e.keyword === 'anyOf' || e.keyword === 'const') {
      continue; // the branch errors say more
    }
    const field = path.join('.') || '(body)';
    const key = `${field}\u0000${issue}`;
    if (seen.has(key)) continue;
    seen.add(key);
    details.push({ field, issue });
  }
  return details.length > 0 ? details : [{ field: prefix || '(body)', issue: 'does not match the schema' }];
}

export function sendError(reply: FastifyReply, request: FastifyRequest, error: ApiError): FastifyReply {
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  return reply
    .code(error.status)
    .type('application/json; charset=utf-8')
    .send({ error: { code: error.code, message: error.message, details: error.details, request_id: String(request.id) } });
}

/** Maps anything thrown in a request to one catalogue error; 5xx never carries internals. */
export function toApiError(err: FastifyError & { validation?: AjvError[]; validationContext?: string }): ApiError {
  if (err instanceof ApiError) return err;
  if (err.validation) {
    const details = detailsFromAjv(err.validation);
    const where = err.validationContext === 'querystring' ? 'query string' : err.validationContext === 'params' ? 'path' : 'request body';
    return new ApiError('validation_failed', `the ${where} is invalid: ${details.map((d) => `${d.field} ${d.issue}`).join('; ')}`, details);
  }
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError('malformed_json', err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'the body is empty; send a JSON object' : `the body is not valid JSON: ${err.message}`);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('payload_too_large', 'the request body is too large for this endpoint');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('unsupported_media_type', 'send the body as application/json');
    default:
      if (isDatabaseUnavailable(err)) return new ApiError('service_unavailable', 'the database is not reachable right now; retry in a few seconds', [], { 'retry-after': '5' });
      if (err instanceof SyntaxError) return new ApiError('malformed_json', `the body is not valid JSON: ${err.message}`);
      if (typeof err.statusCode === 'number' && err.statusCode === 400) return new ApiError('validation_failed', err.message);
      return new ApiError('internal_error', 'something went wrong on our side; quote the request_id when you contact support');
  }
}

/** Connection-level failures of PostgreSQL or a locked SQLite file: the request may succeed if retried. */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '53300', '08000', '08003', '08006']);
function isDatabaseUnavailable(err: Error & { code?: unknown; errcode?: unknown }): boolean {
  if (typeof err.code === 'string' && UNAVAILABLE_CODES.has(err.code)) return true;
  return /database is locked|Connection terminated|timeout exceeded when trying to connect/i.test(err.message);
}

