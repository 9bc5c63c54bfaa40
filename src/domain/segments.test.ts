import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchesSegment, segmentFilterProblem, type SegmentContact } from './segments.ts';

const contact = (over: Partial<SegmentContact> = {}): SegmentContact => ({
  guid: 'g1', first_name: 'Анна', last_name: 'Иванова', middle_name: null, gender: 'female', time_zone: 'Europe/Moscow',
  phones: ['+79161234567'], emails: ['anna@example.com'], attributes: { city: 'Москва', age: 34, vip: true, score: '12' }, consent: { sms: true, email: false }, blocked: false, ...over,
});

test('equality is case-insensitive for text and compares numbers with numeric strings', () => {
  assert.equal(matchesSegment(contact(), { conditions: [{ field: 'attributes.city', op: 'eq', value: 'москва' }] }), true);
  assert.equal(matchesSegment(contact(), { conditions: [{ field: 'attributes.city', op: 'eq', value: 'Казань' }] }), false);
  assert.equal(matchesSegment(contact(), { conditions: [{ field: 'attributes.score', op: 'eq', value: 12 }] }), true);
  assert.equal(matchesSegment(contact(), { conditions: [{ field: 'gender', op: 'ne', value: 'male' }] }), true);
  assert.equal(matchesSegment(contact(), { conditions: [{ field: 'attributes.vip', op: 'eq', value: true }] }), true);
});

test('contains and comparisons; phone and email look at every entry', () => {
  assert.equal(matchesSegment(contact(), { conditions: [{ field: 'email', op: 'contains', value: '@EXAMPLE' }] }), true);
  assert.equal(matchesSegment(contact({ phones: ['+100', '+79990000000'] }), { conditions: [{ field: 'phone', op: 'contains', value: '+7999' }] }), true);
  assert.equal(matchesSegment(contact(), { conditions: [{ field: 'attributes.age', op: 'gte', value: 34 }, { field: 'attributes.age', op: 'lt', value: 40 }] }), true);
  assert.equal(matchesSegment(contact(), { conditions: [{ field: 'attributes.age', op: 'gt', value: 34 }] }), false);
  assert.equal(matchesSegment(contact(), { conditions: [{ field: 'attributes.city', op: 'gt', value: 5 }] }), false, 'text is not a number');
  assert.equal(matchesSegment(contact(), { conditions: [{ field: 'attributes.missing', op: 'not_exists' }, { field: 'middle_name', op: 'not_exists' }] }), true);
  assert.equal(matchesSegment(contact(), { conditions: [{ field: 'attributes.missing', op: 'lt', value: 10 }] }), false);
});

test('consent per channel and the blocklist', () => {
  assert.equal(matchesSegment(contact(), { conditions: [], consent: 'sms' }), true);
  assert.equal(matchesSegment(contact(), { conditions: [], consent: 'email' }), false);
  assert.equal(matchesSegment(contact(), { conditions: [], consent: 'telegram' }), false);
  assert.equal(matchesSegment(contact({ blocked: true }), { conditions: [] }), false);
});

test('a filter naming an unknown field or missing its value is refused with the path', () => {
  assert.deepEqual(segmentFilterProblem({ conditions: [{ field: 'city', op: 'eq', value: 'x' }] })?.field, 'filter.conditions[0].field');
  assert.deepEqual(segmentFilterProblem({ conditions: [{ field: 'attributes.city', op: 'eq' }] })?.field, 'filter.conditions[0].value');
  assert.deepEqual(segmentFilterProblem({ conditions: [{ field: 'attributes.city', op: 'contains', value: 3 }] })?.field, 'filter.conditions[0].value');
  assert.equal(segmentFilterProblem({ conditions: [{ field: 'attributes.city', op: 'exists' }] }), null);
});
