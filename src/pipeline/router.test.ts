import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Connector } from '../connectors/types.ts';
import type { MessageRow } from '../store/messages.ts';
import { RoutingTable } from './router.ts';

const connector = (id: string) => ({ id }) as Connector;
const connectors = ['sandbox', 'mts', 'beeline', 'vip', 'world'].map(connector);
const message = (recipient: string, account = 'acc_1') => ({ recipient, account_id: account, channel: 'sms' }) as MessageRow;

test('without routes every SMS goes to the sandbox', () => {
  assert.equal(new RoutingTable(connectors, []).pick(message('+79161234567'))?.id, 'sandbox');
});

test('the longest matching prefix wins, an account route beats an open one, ties go to the first declared', () => {
  const table = new RoutingTable(connectors, [
    { connector: 'world' },
    { connector: 'mts', prefixes: ['7916', '7915'] },
    { connector: 'beeline', prefixes: ['+7903'] },
    { connector: 'sandbox', prefixes: ['7916'] },
    { connector: 'vip', accounts: ['acc_vip'] },
  ]);
  assert.equal(table.pick(message('+79161234567'))?.id, 'mts');
  assert.equal(table.pick(message('+79031234567'))?.id, 'beeline');
  assert.equal(table.pick(message('+4915112345678'))?.id, 'world');
  assert.equal(table.pick(message('+79161234567', 'acc_vip'))?.id, 'vip');
});

test('no matching route means no connector (the sender fails the message with no_route)', () => {
  const table = new RoutingTable(connectors, [{ connector: 'mts', prefixes: ['7916'] }, { connector: 'vip', prefixes: ['7'], accounts: ['acc_vip'] }]);
  assert.equal(table.pick(message('+79031234567')), undefined);
  assert.equal(table.pick(message('+79031234567', 'acc_vip'))?.id, 'vip');
});
