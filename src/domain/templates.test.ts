import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkTemplate, chooseVariant, contactContext, parseGender, renderForContact, renderTemplate, type ContactFields } from './templates.ts';

const andrey: ContactFields = {
  first_name: 'Андрей',
  last_name: 'Петров',
  middle_name: null,
  gender: 'male',
  phones: ['+79281706700'],
  emails: [],
  time_zone: null,
  guid: 'c-1',
  attributes: { city: 'Ростов', first_name: 'shadowed' },
};

test('genders are read from what clients write; anything else is undefined', () => {
  assert.equal(parseGender('Male'), 'male');
  assert.equal(parseGender('ж'), 'female');
  assert.equal(parseGender(' F '), 'female');
  assert.equal(parseGender(''), null);
  assert.equal(parseGender(undefined), null);
  assert.equal(parseGender('robot'), undefined);
});

test('the variant follows the gender, and falls back to the neutral text', () => {
  const v = { text: 'Уважаемый(ая)', text_male: 'Уважаемый', text_female: 'Уважаемая' };
  assert.deepEqual(chooseVariant(v, 'male'), { variant: 'male', text: 'Уважаемый' });
  assert.deepEqual(chooseVariant(v, 'female'), { variant: 'female', text: 'Уважаемая' });
  assert.deepEqual(chooseVariant(v, null), { variant: 'neutral', text: 'Уважаемый(ая)' });
  assert.deepEqual(chooseVariant({ text: 'N', text_male: 'M' }, 'female'), { variant: 'neutral', text: 'N' });
});

test('a template is checked and its variables listed; a syntax error is an issue', () => {
  assert.deepEqual(checkTemplate('{{first_name}}, {{ attributes.city | upcase }}'), { ok: true, variables: ['attributes', 'first_name'] });
  const bad = checkTemplate('Hi {{first_name');
  assert.equal(bad.ok, false);
  assert.match((bad as { issue: string }).issue, /not closed/);
});

test('a missing variable is an issue, but if and default may handle optional ones', () => {
  const missing = renderTemplate('Hi {{first_name}}', {});
  assert.equal(missing.ok, false);
  assert.match((missing as { issue: string }).issue, /undefined variable: first_name/);
  assert.deepEqual(renderTemplate('Hi {{ nick | default: "друг" }}{% if vip %}!{% endif %}', {}), { ok: true, text: 'Hi друг' });
  assert.equal(renderTemplate('{{ a | no_such_filter }}', { a: 1 }).ok, false);
  assert.equal(renderTemplate('{{ a.constructor }}', { a: {} }).ok, false, 'prototype properties are not reachable');
});

test('the contact context: standard fields win over attributes, params win over both', () => {
  const context = contactContext(andrey, { promo: 'NY2027' });
  assert.equal(context.first_name, 'Андрей');
  assert.equal(context.city, 'Ростов');
  assert.equal(context.phone, '+79281706700');
  assert.equal(context.promo, 'NY2027');
  assert.deepEqual(renderForContact({ text: 'Здравствуйте, {{first_name}}', text_male: 'Уважаемый {{first_name}} из {{city}}! Код {{promo}}' }, andrey, { promo: 'NY2027' }), {
    ok: true,
    text: 'Уважаемый Андрей из Ростов! Код NY2027',
    variant: 'male',
  });
});

test('a loop beyond the render limits fails instead of holding the process', () => {
  const r = renderTemplate('{% for i in (1..100000000) %}{{i}}{% endfor %}', {});
  assert.equal(r.ok, false);
});
