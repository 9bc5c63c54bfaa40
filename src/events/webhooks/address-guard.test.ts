import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guardedLookup, isBlockedAddress, literalAddress } from './address-guard.ts';

test('private, loopback, link-local and reserved addresses are blocked; public ones are not', () => {
  for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '224.0.0.1', 'not-an-ip']) {
    assert.equal(isBlockedAddress(a), true, a);
  }
  for (const a of ['8.8.8.8', '172.32.0.1', '93.184.216.34', '2a00:1450:4010::65', '::ffff:8.8.8.8']) assert.equal(isBlockedAddress(a), false, a);
});

test('IPv6 addresses a network translates to IPv4 (NAT64, 6to4, IPv4-mapped in hex) are judged by that IPv4 address', () => {
  for (const a of ['64:ff9b::7f00:1', '64:ff9b::127.0.0.1', '64:ff9b::a9fe:a9fe', '64:ff9b::10.0.0.1', '2002:7f00:1::1', '2002:c0a8:101::', '2002:a00:1:0:0:0:0:1', '::ffff:7f00:1', '::ffff:a00:1', '64:ff9b:1::808:808', '::127.0.0.1', '::7f00:1']) {
    assert.equal(isBlockedAddress(a), true, a);
  }
  for (const a of ['64:ff9b::808:808', '64:ff9b::8.8.8.8', '2002:808:808::1', '::ffff:808:808', '2001:4860:4860::8888']) assert.equal(isBlockedAddress(a), false, a);
  // As a URL writes them: the WHATWG parser turns a dotted tail into hex.
  for (const url of ['http://[64:ff9b::127.0.0.1]/', 'http://[::ffff:127.0.0.1]/', 'http://[2002:7f00:1::1]:8080/']) assert.equal(isBlockedAddress(literalAddress(new URL(url))!), true, url);
});

test('a URL host that is an IP literal is recognised, with IPv6 brackets removed', () => {
  assert.equal(literalAddress(new URL('http://127.0.0.1:8080/x')), '127.0.0.1');
  assert.equal(literalAddress(new URL('http://[::1]/x')), '::1');
  assert.equal(literalAddress(new URL('https://example.com/x')), undefined);
});

test('a name that resolves only to blocked addresses fails the lookup with the reason', async () => {
  const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => guardedLookup('localhost', {}, (e) => resolve(e)));
  assert.equal(err?.code, 'EBLOCKEDADDRESS');
  assert.match(err!.message, /localhost resolves only to addresses webhooks may not reach/);
});
