import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, maskPhone, maskUrl } from './log.ts';

test('phone numbers are masked in logs and URLs', () => {
  assert.equal(maskPhone('+79161234567'), '+7916***4567');
  assert.equal(maskUrl('/v1/messages?to=%2B79161234567&limit=2'), '/v1/messages?to=+7916***4567&limit=2');
  assert.equal(maskUrl('/v1/messages/msg_1'), '/v1/messages/msg_1');
});

test('the logger redacts keys, passwords and message texts', () => {
  const lines: string[] = [];
  const logger = createLogger('info', { write: (line: string) => lines.push(line) });
  logger.info({ text: 'secret body', message: { text: 'nested body' }, password: 'p4ss', apiKey: 'dpk_x', req: { headers: { authorization: 'Bearer dpk_x' } } }, 'x');
  const out = lines.join('');
  for (const secret of ['secret body', 'nested body', 'dpk_x', 'p4ss']) assert.ok(!out.includes(secret), `${secret} leaked: ${out}`);
  assert.ok(out.includes('[redacted]'));
});
