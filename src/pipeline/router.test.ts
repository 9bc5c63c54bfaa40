import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RouteDefinition } from '../connectors/definitions.ts';
import { RoutingTable, weightedOrder, type RouteInput } from './router.ts';

const input = (recipient: string, more: Partial<RouteInput> = {}): RouteInput => ({
  accountId: 'acc_1',
  channel: 'sms',
  recipient,
  project: null,
  trafficType: 'service',
  operator: null,
  ...more,
});
const table = (routes: RouteDefinition[]) => new RoutingTable(routes.map((route, i) => ({ id: `config-${i + 1}`, route })));
const first = (t: RoutingTable, i: RouteInput) => t.resolve(i)?.connectors[0];

test('without routes every SMS goes to the sandbox', () => {
  assert.deepEqual(new RoutingTable().resolve(input('+79161234567')), { routeId: 'default', connectors: ['sandbox'] });
});

test('the longest matching prefix wins, an account route beats an open one, ties go to the first declared', () => {
  const t = table([
    { connector: 'world' },
    { connector: 'mts', prefixes: ['7916', '7915'] },
    { connector: 'beeline', prefixes: ['+7903'] },
    { connector: 'sandbox', prefixes: ['7916'] },
    { connector: 'vip', accounts: ['acc_vip'] },
  ]);
  assert.equal(first(t, input('+79161234567')), 'mts');
  assert.equal(first(t, input('+79031234567')), 'beeline');
  assert.equal(first(t, input('+4915112345678')), 'world');
  assert.equal(first(t, input('+79161234567', { accountId: 'acc_vip' })), 'vip');
  assert.equal(t.resolve(input('+79161234567'))?.routeId, 'config-2');
});

test('no matching route means no choice (the sender fails the message with no_route)', () => {
  const t = table([{ connector: 'mts', prefixes: ['7916'] }, { connector: 'vip', prefixes: ['7'], accounts: ['acc_vip'] }]);
  assert.equal(t.resolve(input('+79031234567')), null);
  assert.equal(first(t, input('+79031234567', { accountId: 'acc_vip' })), 'vip');
});

test('projects, operators and traffic types narrow a route, and a narrower route wins over a longer prefix', () => {
  const t = table([
    { connector: 'world', prefixes: ['7916'] },
    { connector: 'mts', operators: ['mts'] },
    { connector: 'ads', traffic_types: ['advertising'] },
    { connector: 'shop', projects: ['shop'] },
  ]);
  assert.equal(first(t, input('+79161234567')), 'world');
  assert.equal(first(t, input('+79161234567', { operator: 'mts' })), 'mts', 'an operator route beats a prefix route');
  assert.equal(first(t, input('+79161234567', { operator: 'mts', project: 'shop' })), 'shop', 'a project route beats an operator route');
  assert.equal(first(t, input('+79031234567', { trafficType: 'advertising' })), 'ads');
  assert.equal(t.resolve(input('+79031234567')), null, 'no route for service traffic to 7903 of an unknown operator');
});

test('a traffic-type route wins a tie on prefix length', () => {
  const t = table([{ connector: 'all', prefixes: ['7'] }, { connector: 'ads', prefixes: ['7'], traffic_types: ['advertising'] }]);
  assert.equal(first(t, input('+79031234567', { trafficType: 'advertising' })), 'ads');
  assert.equal(first(t, input('+79031234567')), 'all');
});

test('a failover route lists its connectors in order', () => {
  const t = table([{ failover: ['primary', 'backup', 'last'] }]);
  assert.deepEqual(t.resolve(input('+79161234567'))?.connectors, ['primary', 'backup', 'last']);
});

test('a split route draws by weight, without replacement', () => {
  const t = table([{ split: [{ connector: 'a', weight: 3 }, { connector: 'b', weight: 1 }] }]);
  let seed = 1;
  const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
  const counts = { a: 0, b: 0 };
  for (let i = 0; i < 4000; i++) {
    const order = t.resolve(input('+79161234567'), random)!.connectors;
    assert.equal(order.length, 2);
    counts[order[0] as 'a' | 'b']++;
  }
  assert.ok(counts.a > 2800 && counts.a < 3200, `a came first ${counts.a} of 4000 times (expected about 3000)`);
  assert.deepEqual(weightedOrder(['x', 'y', 'z'], [1, 1, 1], () => 0), ['x', 'y', 'z']);
  assert.deepEqual(weightedOrder(['x', 'y', 'z'], [1, 1, 1], () => 0.999), ['z', 'y', 'x']);
});

test('the dry run says why each route matches or not', () => {
  const t = table([{ connector: 'mts', operators: ['mts'] }, { connector: 'world' }, { connector: 'shop', projects: ['shop'] }]);
  const { choice, verdicts } = t.explain(input('+79161234567'));
  assert.equal(choice?.routeId, 'config-2');
  assert.deepEqual(
    verdicts.map((v) => [v.routeId, v.matches]),
    [['config-1', false], ['config-2', true], ['config-3', false]],
  );
  assert.match(verdicts[0]!.why, /operator is not known/);
  assert.match(verdicts[2]!.why, /has none/);
});

test('templated: true takes only messages that matched an approved template, false only the others, and beats a route that does not say', () => {
  const t = table([{ connector: 'any' }, { connector: 'template-channel', templated: true }, { connector: 'plain', templated: false, prefixes: ['7903'] }]);
  assert.equal(first(t, input('+79161234567', { templated: true })), 'template-channel');
  assert.equal(first(t, input('+79161234567')), 'any');
  assert.equal(first(t, input('+79031234567')), 'plain', 'a longer prefix still comes first');
  assert.equal(first(t, input('+79031234567', { templated: true })), 'template-channel', 'the prefix route serves only untemplated messages');
  const why = t.explain(input('+79161234567')).verdicts.find((v) => v.routeId === 'config-2')!.why;
  assert.match(why, /serves templated messages/);
});
