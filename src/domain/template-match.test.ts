import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TemplateMatcher, fitsParts, fixedParts } from './template-match.ts';

test('a template is its fixed text with a slot per variable or tag, anchored at both ends', () => {
  const m = new TemplateMatcher([{ templateId: 'tpl_code', operator: 'mts', sender: null, text: 'Ваш код: {{ code }}. Никому не сообщайте.' }]);
  assert.equal(m.match('Ваш код: 4821. Никому не сообщайте.', 'mts'), 'tpl_code');
  assert.equal(m.match('Ваш код: 4821 и ещё текст. Никому не сообщайте.', 'mts'), 'tpl_code', 'a slot takes any text');
  assert.equal(m.match('Ваш код: . Никому не сообщайте.', 'mts'), null, 'a slot takes at least one character');
  assert.equal(m.match('Ваш код: 4821. Никому не сообщайте. Реклама!', 'mts'), null, 'nothing after the fixed end');
  assert.equal(m.match('Привет! Ваш код: 4821. Никому не сообщайте.', 'mts'), null, 'nothing before the fixed start');
  assert.equal(m.match('ваш код: 4821. Никому не сообщайте.', 'mts'), null, 'fixed text is case-sensitive');
});

test('templates are approved per operator: another operator, or an unknown one, matches nothing', () => {
  const m = new TemplateMatcher([{ templateId: 'tpl_a', operator: 'mts', sender: null, text: 'Заказ {{n}} готов' }]);
  assert.equal(m.match('Заказ 7 готов', 'megafon'), null);
  assert.equal(m.match('Заказ 7 готов', null), null);
});

test('spaces are normalised on both sides; regex characters in fixed text are literal', () => {
  const m = new TemplateMatcher([{ templateId: 'tpl_p', operator: 'mts', sender: null, text: 'Сумма (руб.): {{sum}} + 5% [бонус]?' }]);
  assert.equal(m.match('  Сумма (руб.):   100 + 5% [бонус]?\n', 'mts'), 'tpl_p');
  assert.equal(m.match('Сумма Xруб.): 100 + 5% [бонус]?', 'mts'), null);
});

test('of many templates the one that fits is named; gender variants are texts of the same template', () => {
  const texts = Array.from({ length: 450 }, (_, i) => ({ templateId: `tpl_${i}`, operator: 'mts', sender: null, text: `Шаблон номер ${i}: {{x}}` }));
  texts.push({ templateId: 'tpl_g', operator: 'mts', sender: null, text: 'Уважаемый {{name}}!' }, { templateId: 'tpl_g', operator: 'mts', sender: null, text: 'Уважаемая {{name}}!' });
  const m = new TemplateMatcher(texts);
  assert.equal(m.match('Шаблон номер 7: да', 'mts'), 'tpl_7');
  assert.equal(m.match('Шаблон номер 449: да', 'mts'), 'tpl_449', 'far down the list');
  assert.equal(m.match('Уважаемая Ольга!', 'mts'), 'tpl_g');
  assert.equal(m.match('Шаблон номер 450: да', 'mts'), null);
});

test('fixed parts: adjacent slots are one; a text may start or end with a slot', () => {
  assert.deepEqual(fixedParts('{{a}}{{b}} x'), fixedParts('{{a}} x'));
  assert.deepEqual(fixedParts('{{a}}, код {{b}}'), ['', ', код ', '']);
  assert.deepEqual(fixedParts('Код {% if x %}a{% endif %}!'), ['Код ', 'a', '!']);
  assert.equal(fitsParts('A, код 1', ['', ', код ', '']), true);
  assert.equal(fitsParts(', код 1', ['', ', код ', '']), false, 'the leading slot is empty');
  assert.equal(fitsParts('ab', ['a', 'b']), false, 'the slot between is empty');
  assert.equal(fitsParts('a-x-b-y-b', ['a', '-b-', '']), true, 'the leftmost part leaves room for the rest');
});

test('a hostile text costs a scan, not a backtracking explosion', () => {
  const m = new TemplateMatcher([{ templateId: 'tpl_s', operator: 'mts', sender: null, text: 'Код {{a}} {{b}} {{c}} {{d}} конец' }]);
  assert.equal(m.match('Код 1 2 3 4 конец', 'mts'), 'tpl_s');
  assert.equal(m.match('Код 1 2 3 конец', 'mts'), null, 'each slot needs a character');
  const started = performance.now();
  assert.equal(m.match(`Код ${'1 '.repeat(20_000)}`, 'mts'), null);
  assert.ok(performance.now() - started < 100, 'linear in the text');
});

test('a template registered for a sender name matches only messages from it', () => {
  const m = new TemplateMatcher([{ templateId: 'tpl_shop', operator: 'mts', sender: 'Shop', text: 'Заказ {{n}} готов' }]);
  assert.equal(m.match('Заказ 7 готов', 'mts', 'Shop'), 'tpl_shop');
  assert.equal(m.match('Заказ 7 готов', 'mts', 'Other'), null);
  assert.equal(m.match('Заказ 7 готов', 'mts'), null);
});
