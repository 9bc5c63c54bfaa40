import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LINT_CODES, LINT_CODE_DESCRIPTIONS, RULED_OPERATORS, hintedCodes, lintTemplate, rulesFor, suggestRewrite, type OperatorRules } from './template-lint.ts';

const codes = (texts: { text: string; text_male?: string }, operator = 'mts', sender: string | null = 'Shop', rules?: OperatorRules) => lintTemplate(texts, operator, { sender, ...(rules ? { rules } : {}) }).map((f) => f.code);

test('the rules are data: an operator\'s entry over the defaults, `*` for the others', () => {
  assert.deepEqual([...RULED_OPERATORS].sort(), ['beeline', 'megafon', 'mts', 't2']);
  assert.equal(rulesFor('megafon').max_length, 700);
  assert.equal(rulesFor('t2').min_fixed_length, 15);
  assert.equal(rulesFor('inn_7707083893').name, 'другие операторы');
  assert.equal(rulesFor('inn_7707083893').max_length, 480);
  for (const code of LINT_CODES) assert.ok(LINT_CODE_DESCRIPTIONS[code]);
});

test('a compliant template has no findings', () => {
  assert.deepEqual(codes({ text: 'Ваш код подтверждения: {{code}}. Никому его не сообщайте.' }), []);
});

test('each rule gives its stable code, with the field it is about', () => {
  assert.deepEqual(codes({ text: 'Ваш код для входа: {{code}}' }, 'mts', null), ['sender_required']);
  assert.deepEqual(codes({ text: '{{name}}, ваш заказ готов к выдаче' }), ['variable_at_start']);
  assert.deepEqual(codes({ text: 'Заказ готов к выдаче: {{a}} {{b}}' }), ['adjacent_variables']);
  assert.deepEqual(codes({ text: 'Код {{c}}' }), ['too_little_fixed_text']);
  assert.deepEqual(codes({ text: `Ваш заказ ${'{{v}} и '.repeat(7)}готов` }), ['too_many_variables']);
  assert.deepEqual(codes({ text: `Ваш заказ {{n}} ${'готов '.repeat(100)}` }), ['too_long']);
  assert.deepEqual(codes({ text: 'Ваш код {{code}} для входа в Казино' }), ['forbidden_word']);
  assert.deepEqual(codes({ text: 'Новости букмекерской конторы: {{x}} сегодня' }), ['forbidden_word'], 'a forbidden stem finds its forms');
  assert.deepEqual(codes({ text: 'Your order {{n}} is ready for pickup' }), ['all_latin']);
  assert.deepEqual(codes({ text: 'Your order {{n}} is ready for pickup' }, 'beeline'), [], 'Beeline takes all-Latin text');
  assert.deepEqual(codes({ text: 'Ваш заказ {% if x %}{{n}}{% endif %} готов к выдаче' }), ['conditional_tag']);
  assert.deepEqual(codes({ text: 'Ваш заказ {{ n готов' }), ['invalid_template']);
  const latin = { ...rulesFor('beeline'), latin_only: true };
  assert.deepEqual(codes({ text: 'Ваш заказ {{n}} готов к выдаче' }, 'beeline', 'Shop', latin), ['not_latin']);
  const findings = lintTemplate({ text: 'Ваш заказ {{n}} готов к выдаче', text_male: '{{name}}, ваш заказ готов к выдаче' }, 'mts', { sender: 'Shop' });
  assert.deepEqual(findings.map((f) => [f.code, f.field]), [['variable_at_start', 'text_male']]);
});

test('the rewrite drops forbidden words, moves a leading variable, separates adjacent ones, and says so', () => {
  const s = suggestRewrite({ text: '{{name}}, ваш бонус {{a}} {{b}} в казино ждёт!' }, 'mts', { sender: 'Shop' })!;
  assert.equal(s.texts.text, 'Ваш бонус {{a}}, {{b}} в ждёт, {{name}}!');
  assert.deepEqual(s.changes.map((c) => c.code), ['forbidden_word', 'variable_at_start', 'adjacent_variables']);
  assert.match(s.changes[0]!.description, /dropped "казино"/);
  assert.deepEqual(s.remaining, []);
  assert.equal(suggestRewrite({ text: 'Ваш код подтверждения: {{code}}. Никому его не сообщайте.' }, 'mts', { sender: 'Shop' }), null, 'nothing to suggest');
});

test('the rewrite transliterates for Latin-only rules and shortens what is too long, never inside a variable', () => {
  const latin = { ...rulesFor('beeline'), latin_only: true };
  const t = suggestRewrite({ text: 'Ваш код {{code}}. Никому его не сообщайте' }, 'beeline', { sender: 'Shop', rules: latin })!;
  assert.equal(t.texts.text, 'Vash kod {{code}}. Nikomu ego ne soobschayte');
  assert.deepEqual(t.remaining, []);
  const long = suggestRewrite({ text: `Ваш заказ {{n}} ${'очень '.repeat(100)}готов` }, 't2', { sender: 'Shop' })!;
  assert.deepEqual(long.changes.map((c) => c.code), ['too_long']);
  assert.ok(long.texts.text.startsWith('Ваш заказ {{n}} очень'));
  assert.ok(long.texts.text.length <= rulesFor('t2').max_length);
  assert.deepEqual(long.remaining, []);
});

test('what the rules cannot fix stays in `remaining`', () => {
  const s = suggestRewrite({ text: 'Your order {{n}} is ready' }, 'mts', {})!;
  assert.deepEqual(s.changes, []);
  assert.deepEqual(s.remaining.map((f) => f.code).sort(), ['all_latin', 'sender_required']);
});

test('an operator\'s rejection reason picks rewrites by its hint words, and quoted words are dropped', () => {
  const rules = rulesFor('megafon');
  assert.deepEqual([...hintedCodes('Текст на латинице не принимается', rules)], ['all_latin']);
  assert.deepEqual([...hintedCodes('Допускается только латиница', rules)], ['not_latin']);
  const s = suggestRewrite({ text: 'Ваш код {{code}}. Выгодные предложения каждый день' }, 'megafon', { sender: 'Shop', reason: 'Слово «выгодные» запрещено' })!;
  assert.equal(s.texts.text, 'Ваш код {{code}}. предложения каждый день');
  assert.deepEqual(s.changes.map((c) => c.code), ['forbidden_word']);
  const shorter = suggestRewrite({ text: 'Ваш код {{code}}. Никому его не сообщайте, даже сотрудникам банка' }, 'megafon', { sender: 'Shop', reason: 'Слишком длинный текст' })!;
  assert.ok(shorter.texts.text.length < 'Ваш код {{code}}. Никому его не сообщайте, даже сотрудникам банка'.length);
});

test('docs/templates.md lists every finding code with its description', async () => {
  const { readFileSync } = await import('node:fs');
  const doc = readFileSync(new URL('../../docs/templates.md', import.meta.url), 'utf8');
  const rows = new Map([...doc.matchAll(/^\| `([a-z_]+)` \| (.+) \|$/gm)].map((m) => [m[1]!, m[2]!]));
  for (const code of LINT_CODES) assert.equal(rows.get(code), LINT_CODE_DESCRIPTIONS[code], `docs/templates.md row for ${code}`);
});
