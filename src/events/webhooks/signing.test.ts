import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { generateSecret, isValidSecret, signatureHeaders } from './signing.ts';

test('a signature verifies with the standardwebhooks package, and fails for a changed body', () => {
  const secret = generateSecret();
  assert.ok(isValidSecret(secret));
  const body = JSON.stringify({ id: 'evt_1', type: 'message.delivered', data: { text: 'Привет' } });
  const headers = signatureHeaders(secret, 'evt_1', body);
  assert.deepEqual(new Webhook(secret).verify(body, headers), JSON.parse(body));
  assert.throws(() => new Webhook(secret).verify(body + ' ', headers));
  assert.throws(() => new Webhook(generateSecret()).verify(body, headers));
});

test('secrets must be whsec_ and base64 of 24–64 bytes', () => {
  assert.equal(isValidSecret('whsec_short'), false);
  assert.equal(isValidSecret('abc_' + Buffer.alloc(32).toString('base64')), false);
  assert.equal(isValidSecret('whsec_' + Buffer.alloc(32, 7).toString('base64')), true);
});
