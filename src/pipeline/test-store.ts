/**
 * Set-up for the pipeline's unit tests (imported by *.test.ts only): a
 * migrated in-memory SQLite store with one account, and messages prepared on
 * it the way the API accepts them.
 */
import assert from 'node:assert/strict';
import { AccountsRepository, type Account } from '../store/accounts.ts';
import { openDatabase, type Database } from '../store/db.ts';
import type { MessageRow } from '../store/messages.ts';
import { prepareMessage, type SendRequest } from './accept.ts';

/** A fresh in-memory store and an account on it (region RU, a day's validity, 10 parts) made at `now`; the test closes `database`. */
export async function storeWithAccount(now = Date.now()): Promise<{ database: Database; db: Database['db']; account: Account }> {
  const database = await openDatabase({ sqlitePath: ':memory:' });
  await database.migrate();
  const account = await new AccountsRepository(database.db).createAccount({ name: 'A', defaultRegion: 'RU', defaultTtlSeconds: 86400, maxParts: 10 }, now);
  return { database, db: database.db, account };
}

/** An SMS to +79161234567 as accept prepares it at `now`, with no operator or sender rules; not stored. */
export function preparedMessage(account: Account, now: number, request: Omit<SendRequest, 'to'>): MessageRow {
  const p = prepareMessage(account, { to: '+79161234567', ...request }, now, null, { operators: undefined, senders: undefined, allowPrivateCallbackAddresses: true });
  assert.ok(p.ok, p.ok ? '' : p.error.message);
  return p.row;
}
