import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FastifyError } from 'fastify';
import { detailsFromAjv, toApiError } from './errors.ts';

const fastifyError = (props: Record<string, unknown>, message = 'boom') => Object.assign(new Error(message), props) as unknown as FastifyError;

test('a database outage is a retryable 503, any other surprise a 500 without internals', () => {
  const down = toApiError(fastifyError({ code: 'ECONNREFUSED' }, 'connect ECONNREFUSED 127.0.0.1:5432'));
  assert.equal(down.code, 'service_unavailable');
  assert.equal(down.status, 503);
  assert.equal(down.headers['retry-after'], '5');
  assert.equal(toApiError(fastifyError({}, 'database is locked')).code, 'service_unavailable');
  const bug = toApiError(fastifyError({}, 'Cannot read properties of undefined (reading "x") at /work/main/src/secret.ts'));
  assert.equal(bug.code, 'internal_error');
  assert.ok(!bug.message.includes('secret.ts'));
});

test('schema errors become dotted field paths a person can act on', () => {
  assert.deepEqual(
    detailsFromAjv(
      [
        { instancePath: '', keyword: 'additionalProperties', params: { additionalProperty: 'colour' }, message: 'must NOT have additional properties' },
        { instancePath: '', keyword: 'required', params: { missingProperty: 'text' }, message: "must have required property 'text'" },
        { instancePath: '/ttl_seconds', keyword: 'minimum', params: {}, message: 'must be >= 30' },
      ],
      'messages.3',
    ),
    [
      { field: 'messages.3.colour', issue: 'unknown field' },
      { field: 'messages.3.text', issue: 'is required' },
      { field: 'messages.3.ttl_seconds', issue: 'must be >= 30' },
    ],
  );
});
