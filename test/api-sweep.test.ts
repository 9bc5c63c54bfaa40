/**
 * Every endpoint of /v1 that `/openapi.json` lists, swept: without a key it
 * answers 401 in the error shape (except the few meant to be public), and
 * with a key a malformed JSON body is a 400 `malformed_json`, never a 500 or
 * a half-done request. The list comes from the OpenAPI document, so a new
 * endpoint is swept without touching this file.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestGateway, type TestGateway } from './helpers.ts';

/** public on purpose: signing in (it limits its own attempts), providers' status reports (each connector checks the provider's signature) */
const PUBLIC = new Set(['POST /v1/sessions', 'POST /v1/callbacks/{connector_id}', 'GET /v1/callbacks/{connector_id}']);

let t: TestGateway;
let operations: { method: string; path: string; url: string }[] = [];
before(async () => {
  t = await startTestGateway('sqlite');
  const spec = (await t.gateway.app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
  for (const [path, ops] of Object.entries(spec.paths)) {
    if (!path.startsWith('/v1/')) continue;
    for (const method of Object.keys(ops)) operations.push({ method: method.toUpperCase(), path, url: path.replace(/\{[^}]+\}/g, 'x1') });
  }
});
after(async () => {
  await t?.close();
});

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
const withBody = (method: string) => method === 'POST' || method === 'PUT' || method === 'PATCH';

test('every /v1 endpoint but the public ones refuses a request without a key: 401 in the error shape', async () => {
  assert.ok(operations.length > 80, `only ${operations.length} operations in /openapi.json`);
  const answered: string[] = [];
  for (const op of operations) {
    if (PUBLIC.has(`${op.method} ${op.path}`)) continue;
    const res = await t.gateway.app.inject({ method: op.method as Method, url: op.url, ...(withBody(op.method) ? { headers: { 'content-type': 'application/json' }, payload: '{}' } : {}) });
    const body = res.json() as { error?: { code?: string; message?: string; request_id?: string } };
    if (res.statusCode !== 401 || body.error?.code !== 'unauthorized' || !body.error.message || !body.error.request_id?.startsWith('req_')) answered.push(`${op.method} ${op.path}: ${res.statusCode} ${res.body.slice(0, 120)}`);
    else assert.ok(res.headers['www-authenticate'], `${op.method} ${op.path}: no WWW-Authenticate`);
  }
  assert.deepEqual(answered, [], 'endpoints that did not refuse a request without a key');
});

test('every /v1 endpoint that takes a body answers malformed JSON with 400 malformed_json', async () => {
  const answered: string[] = [];
  for (const op of operations) {
    if (!withBody(op.method) || op.path.startsWith('/v1/callbacks/')) continue;
    const res = await t.gateway.app.inject({ method: op.method as Method, url: op.url, headers: { 'content-type': 'application/json', authorization: `Bearer ${t.apiKey}` }, payload: '{"to": ' });
    let code: string | undefined;
    try {
      code = (res.json() as { error?: { code?: string } }).error?.code;
    } catch {
      code = undefined;
    }
    if (res.statusCode !== 400 || code !== 'malformed_json') answered.push(`${op.method} ${op.path}: ${res.statusCode} ${res.body.slice(0, 120)}`);
  }
  assert.deepEqual(answered, [], 'endpoints that did not answer malformed JSON with malformed_json');
});
