import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ipAllowed, parseRange } from './ip-ranges.ts';

test('ranges parse as CIDR or single addresses, and nonsense does not', () => {
  assert.deepEqual(parseRange('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
  assert.deepEqual(parseRange('2001:db8::1'), { address: '2001:db8::1', prefix: 128, family: 'ipv6' });
  for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.0/8/1', '10.0.0/8', '::/129', '1.2.3.4/x']) assert.equal(parseRange(bad), undefined, bad);
});

test('an address is allowed inside a range, an IPv4-mapped address counts as IPv4, an empty list allows all', () => {
  const ranges = ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32'];
  assert.equal(ipAllowed('10.1.2.3', ranges), true);
  assert.equal(ipAllowed('::ffff:10.1.2.3', ranges), true);
  assert.equal(ipAllowed('192.0.2.7', ranges), true);
  assert.equal(ipAllowed('192.0.2.8', ranges), false);
  assert.equal(ipAllowed('2001:db8:1::5', ranges), true);
  assert.equal(ipAllowed('127.0.0.1', ranges), false);
  assert.equal(ipAllowed('127.0.0.1', []), true);
});
