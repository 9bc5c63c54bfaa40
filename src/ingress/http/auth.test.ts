import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FastifyRequest } from 'fastify';
import type { AccountsRepository } from '../../store/accounts.ts';
import { ApiKeyAuthenticator } from './auth.ts';

/** An AccountsRepository with one key; each lookup may be held back until `release`. */
function fakeAccounts() {
  let live = true;
  let lookups = 0;
  let hold: Promise<void> | undefined;
  let release = () => {};
  const repo = {
    async findApiKeyByHash() {
      lookups++;
      const answer = live ? { id: 'key_1', accountId: 'acc_1', name: 'k', prefix: 'dpk_', createdAt: 0, role: 'account' as const, projectId: null } : undefined;
      if (hold) await hold;
      return answer;
    },
    async getAccount() {
      return { id: 'acc_1' };
    },
  } as unknown as AccountsRepository;
  return {
    repo,
    revoke: () => (live = false),
    lookups: () => lookups,
    holdNext: () => (hold = new Promise<void>((resolve) => (release = () => ((hold = undefined), resolve())))),
    release: () => release(),
  };
}

const request = { headers: { authorization: 'Bearer dpk_test' } } as unknown as FastifyRequest;

test('a key is cached; dropped, it is read again; a lookup that read it before it was dropped does not cache it', async () => {
  const accounts = fakeAccounts();
  const keys = new ApiKeyAuthenticator(accounts.repo);
  await keys.authenticate(request);
  await keys.authenticate(request);
  assert.equal(accounts.lookups(), 1, 'the second request from the cache');

  keys.dropKey('key_1');
  accounts.holdNext();
  const reading = keys.authenticate(request); // reads the key still live
  accounts.revoke();
  keys.dropKey('key_1'); // the notice of its revocation comes while the lookup is out
  accounts.release();
  assert.equal((await reading).keyId, 'key_1');
  await assert.rejects(keys.authenticate(request), /unknown or revoked/, 'not taken from what the earlier lookup read');
});

test('forgetKey drops the key here and tells the other nodes; dropAll empties the cache', async () => {
  const accounts = fakeAccounts();
  const keys = new ApiKeyAuthenticator(accounts.repo);
  const told: unknown[] = [];
  keys.shareWith(async (notice) => void told.push(notice));
  await keys.authenticate(request);
  await keys.forgetKey('acc_1', 'key_1');
  await keys.forgetAccount('acc_1');
  assert.deepEqual(told, [
    { kind: 'key_revoked', accountId: 'acc_1', keyId: 'key_1' },
    { kind: 'account_changed', accountId: 'acc_1' },
  ]);
  await keys.authenticate(request);
  assert.equal(accounts.lookups(), 2);
  keys.dropAll();
  await keys.authenticate(request);
  assert.equal(accounts.lookups(), 3);
});
