import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Account } from '../store/accounts.ts';
import type { SenderNameStatus } from '../store/sender-names.ts';
import { checkSender, quietHoursRelease } from './policy.ts';

const account = (more: Partial<Account> = {}): Account => ({
  id: 'acc_1',
  name: 'Shop',
  default_region: 'RU',
  default_ttl_seconds: 86400,
  max_parts: 10,
  created_at: 0,
  time_zone: 'Europe/Moscow',
  quiet_hours_start: null,
  quiet_hours_end: null,
  require_registered_senders: 1,
  fallback_sender: null,
  ...more,
});
const registry = (entries: Record<string, Record<string, SenderNameStatus>>) => new Map(Object.entries(entries).map(([name, ops]) => [name, new Map(Object.entries(ops))]));

test('without the requirement, or without a sender, nothing is checked', () => {
  assert.deepEqual(checkSender(account({ require_registered_senders: 0 }), registry({}), 'Anything', 'mts'), { ok: true, sender: 'Anything' });
  assert.deepEqual(checkSender(account(), registry({}), null, 'mts'), { ok: true, sender: null });
});

test('a sender must be approved for the operator; `*` covers operators not listed and numbers of unknown operator', () => {
  const r = registry({ Shop: { mts: 'approved', megafon: 'pending', '*': 'approved' }, Bank: { mts: 'rejected' } });
  assert.deepEqual(checkSender(account(), r, 'Shop', 'mts'), { ok: true, sender: 'Shop' });
  assert.deepEqual(checkSender(account(), r, 'Shop', 't2'), { ok: true, sender: 'Shop' });
  assert.deepEqual(checkSender(account(), r, 'Shop', null), { ok: true, sender: 'Shop' });
  const pending = checkSender(account(), r, 'Shop', 'megafon');
  assert.equal(pending.ok, false);
  assert.match(!pending.ok ? pending.issue : '', /"Shop" is awaiting approval for operator megafon/);
  const rejected = checkSender(account(), r, 'Bank', 'mts');
  assert.match(!rejected.ok ? rejected.issue : '', /"Bank" was rejected for operator mts/);
  const unknown = checkSender(account(), r, 'Other', 'mts');
  assert.match(!unknown.ok ? unknown.issue : '', /"Other" is not registered for operator mts/);
  const bankUnknown = checkSender(account(), r, 'Bank', null);
  assert.match(!bankUnknown.ok ? bankUnknown.issue : '', /not registered for numbers of unknown operator/);
});

test('the fallback sender replaces one that is not approved, when it is approved itself', () => {
  const r = registry({ Shop: { mts: 'approved' }, Promo: { mts: 'pending', megafon: 'approved' } });
  assert.deepEqual(checkSender(account({ fallback_sender: 'Shop' }), r, 'Promo', 'mts'), { ok: true, sender: 'Shop' });
  assert.deepEqual(checkSender(account({ fallback_sender: 'Shop' }), r, 'Promo', 'megafon'), { ok: true, sender: 'Promo' });
  const neither = checkSender(account({ fallback_sender: 'Shop' }), r, 'Promo', 'beeline');
  assert.match(!neither.ok ? neither.issue : '', /fallback sender "Shop" is not approved there either/);
});

test('quiet hours hold advertising only, in the region\'s zone when known, else the account\'s', () => {
  const quiet = account({ quiet_hours_start: '21:00', quiet_hours_end: '09:00', time_zone: 'Europe/Moscow' });
  const lateMoscow = Date.parse('2026-12-01T19:30:00Z'); // 22:30 Moscow, 02:30 in Novosibirsk the next day
  assert.equal(quietHoursRelease(quiet, 'advertising', 'Ростовская обл.', lateMoscow), Date.parse('2026-12-02T06:00:00Z'));
  assert.equal(quietHoursRelease(quiet, 'advertising', 'Новосибирская обл.', lateMoscow), Date.parse('2026-12-02T02:00:00Z'));
  assert.equal(quietHoursRelease(quiet, 'advertising', null, lateMoscow), Date.parse('2026-12-02T06:00:00Z'), 'the account zone');
  assert.equal(quietHoursRelease(quiet, 'service', 'Ростовская обл.', lateMoscow), lateMoscow);
  assert.equal(quietHoursRelease(account(), 'advertising', 'Ростовская обл.', lateMoscow), lateMoscow, 'no quiet hours set');
  const noon = Date.parse('2026-12-01T09:00:00Z');
  assert.equal(quietHoursRelease(quiet, 'advertising', 'Ростовская обл.', noon), noon);
});
