import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Connector } from '../connectors/types.ts';
import { createLogger } from '../log.ts';
import { storeWithAccount } from './test-store.ts';
import { VerificationSweeper } from './verification-sweeper.ts';

const T0 = Date.parse('2026-12-02T09:00:00Z');

test('two nodes sweeping at once: an ended verification is revoked once, by whichever takes it', async () => {
  const { database, db, account } = await storeWithAccount(T0);
  await db
    .insertInto('messages')
    .values({
      id: 'msg_1', account_id: account.id, batch_id: null, channel: 'telegram', recipient: '+79161234567', sender: null, body: 'code 1234', encoding: 'gsm7', characters: 9, parts_count: 1,
      traffic_type: 'service', group_tag: null, project: null, reference: null, status: 'delivered', reason_code: null, provider_code: null, reason_detail: null, connector_id: 'tg', attempts: 1,
      ttl_seconds: 300, send_at: null, expires_at: T0 + 300_000, due_at: T0, lease_until: null, created_at: T0, queued_at: T0, sent_at: T0, delivered_at: T0, completed_at: T0, updated_at: T0,
      operator: null, region: null, callback_url: null,
    })
    .execute();
  await db.insertInto('message_parts').values({ message_id: 'msg_1', part_index: 1, account_id: account.id, connector_id: 'tg', provider_message_id: 'req-1', status: 'delivered', reason_code: null, provider_code: null, sent_at: T0, done_at: T0 }).execute();
  await db
    .insertInto('verifications')
    .values({ id: 'ver_1', account_id: account.id, recipient: '+79161234567', channel: 'telegram', message_id: 'msg_1', code_salt: 's', code_hash: 'h', status: 'pending', attempts: 0, max_attempts: 3, expires_at: T0 + 60_000, created_at: T0, verified_at: null, sweep_at: T0 + 60_000 })
    .execute();
  const revoked: string[] = [];
  const tg = { id: 'tg', revoke: async (id: string) => (revoked.push(id), true) } as unknown as Connector;
  const log = createLogger('silent');
  const a = new VerificationSweeper(db, () => tg, log);
  const b = new VerificationSweeper(db, () => tg, log);
  const now = T0 + 61_000;
  const handled = await Promise.all([a.sweepOnce(now), b.sweepOnce(now)]);
  assert.deepEqual(handled.sort(), [0, 1]);
  assert.deepEqual(revoked, ['req-1']);
  const row = await db.selectFrom('verifications').select(['status', 'sweep_at']).where('id', '=', 'ver_1').executeTakeFirstOrThrow();
  assert.deepEqual({ ...row }, { status: 'expired', sweep_at: null });
  await database.close();
});

test('a node that dies holding a verification leaves it due again when its lease ends', async () => {
  const { database, db, account } = await storeWithAccount(T0);
  await db
    .insertInto('verifications')
    .values({ id: 'ver_2', account_id: account.id, recipient: '+79161234567', channel: 'sms', message_id: 'msg_none', code_salt: 's', code_hash: 'h', status: 'pending', attempts: 0, max_attempts: 3, expires_at: T0, created_at: T0, verified_at: null, sweep_at: T0 })
    .execute();
  // Taken (as a sweeper does first) and never finished: not due again before the lease ends.
  await db.updateTable('verifications').set({ sweep_at: T0 + 60_000 }).where('id', '=', 'ver_2').execute();
  const sweeper = new VerificationSweeper(db, () => undefined, createLogger('silent'));
  assert.equal(await sweeper.sweepOnce(T0 + 30_000), 0);
  assert.equal(await sweeper.sweepOnce(T0 + 60_000), 1);
  assert.equal((await db.selectFrom('verifications').select('status').where('id', '=', 'ver_2').executeTakeFirstOrThrow()).status, 'expired');
  await database.close();
});
