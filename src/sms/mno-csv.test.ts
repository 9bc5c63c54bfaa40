import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatProblems, parsePorted, parseRegistry } from './mno-csv.ts';

const HEADER = '\uFEFFАВС/ DEF;От;До;Емкость;Оператор;Регион;ИНН';
const file = (...rows: string[]) => [HEADER, ...rows].join('\n') + '\n';
const problemsOf = (text: string) => {
  const r = parseRegistry(text);
  assert.equal(r.ok, false, 'the file should be refused');
  return r.ok ? [] : r.problems;
};

describe('parseRegistry', () => {
  test('BOM, doubled quotes, CRLF: ranges in full E.164 digits with the operator code by INN', () => {
    const r = parseRegistry(file('900;0;61999;62000;"ООО ""Т2 Мобайл""";Краснодарский край;7743895280', '958;5000000;5000099;100;"ООО ""Ромашка""";г. Москва;123456789012').replace(/\n/g, '\r\n'));
    assert.ok(r.ok);
    assert.deepEqual(
      r.rows.map(({ line, start, end, operator, operatorName, region }) => ({ line, start, end, operator, operatorName, region })),
      [
        { line: 2, start: 79000000000, end: 79000061999, operator: 't2', operatorName: 'ООО "Т2 Мобайл"', region: 'Краснодарский край' },
        { line: 3, start: 79585000000, end: 79585000099, operator: 'inn_123456789012', operatorName: 'ООО "Ромашка"', region: 'г. Москва' },
      ],
    );
  });

  test('columns are found by name: a copy with Территория ГАР reads the same', () => {
    const r = parseRegistry('АВС/ DEF;От;До;Емкость;Оператор;Регион;Территория ГАР;ИНН\n900;0;999;1000;"ООО ""Т2 Мобайл""";Краснодарский край;г. Краснодар;7743895280\n');
    assert.ok(r.ok);
    assert.deepEqual(
      r.rows.map((x) => [x.start, x.operator, x.region]),
      [[79000000000, 't2', 'Краснодарский край']],
    );
  });

  test('every bad row is reported with its line number, and no row is returned', () => {
    const problems = problemsOf(
      file(
        '900;0;999;1000;"ООО ""Т2 Мобайл""";Краснодарский край;7743895280',
        '900;1000;1999;999;"ООО ""Т2 Мобайл""";Краснодарский край;7743895280',
        '900;3000;2000;0;"ООО ""Т2 Мобайл""";Краснодарский край;7743895280',
        '90;4000;4999;1000;X;Y;7743895280',
        '900;5000;5999;1000;X;Y;12345',
        '900;6000;6999;1000;;Y;7743895280',
        '900;7000;7999;1000;X;Y',
        '900;8000;abc;1000;X;Y;7743895280',
      ),
    );
    assert.deepEqual(
      problems.map((p) => p.line),
      [3, 4, 5, 6, 7, 8, 9],
    );
    assert.match(problems[0]!.issue, /Емкость 999 does not match От..До \(1000 numbers\)/);
    assert.match(problems[1]!.issue, /От 3000 is after До 2000/);
    assert.match(problems[2]!.issue, /not a 3-digit code/);
    assert.match(problems[3]!.issue, /ИНН "12345"/);
    assert.match(problems[4]!.issue, /Оператор is empty/);
    assert.match(problems[5]!.issue, /6 fields, expected 7 as in the header/);
    assert.match(problems[6]!.issue, /До "abc"/);
  });

  test('overlapping ranges refuse the file, naming both lines', () => {
    const problems = problemsOf(file('900;0;999;1000;X;Y;7743895280', '901;0;999;1000;X;Y;7743895280', '900;999;1000;2;X;Y;7743895280'));
    assert.deepEqual(problems, [{ line: 4, issue: 'the range 79000000999..79000001000 overlaps 79000000000..79000000999 of line 2' }]);
  });

  test('a broken quote is a bad row', () => {
    const problems = problemsOf(file('900;0;999;1000;"ООО "Т2";Y;7743895280'));
    assert.equal(problems[0]!.line, 2);
    assert.match(problems[0]!.issue, /quote/i);
  });

  test('a wrong header, an empty file and a header alone are refused', () => {
    assert.match(problemsOf('DEF;From;To;Capacity;Operator;Region;INN\n900;0;999;1000;X;Y;7743895280\n')[0]!.issue, /the header must name each of the columns/);
    assert.match(problemsOf('АВС/ DEF;От;До;Емкость;Оператор;Регион;ИНН;ИНН\n900;0;999;1000;X;Y;7743895280;7743895280\n')[0]!.issue, /once/);
    assert.deepEqual(problemsOf(''), [{ line: 1, issue: 'the file is empty' }]);
    assert.deepEqual(problemsOf(file()), [{ line: 1, issue: 'the file has a header but no ranges' }]);
  });

  test('formatProblems lists lines and counts the rest', () => {
    const text = formatProblems(
      [1, 2, 3].map((line) => ({ line, issue: 'bad' })),
      2,
    );
    assert.equal(text, '  line 1: bad\n  line 2: bad\n  … and 1 more');
  });
});

describe('parsePorted', () => {
  test('number in any common form; operator by code or INN; optional name and region; optional header', () => {
    const r = parsePorted('\uFEFFnumber;operator\n+7 916 123-45-67;megafon\n89031234567;7743200179;"ООО ""Тинькофф Мобайл""";Москва\n9261234567;inn_7713076301\n');
    assert.ok(r.ok);
    assert.deepEqual(r.rows, [
      { line: 2, number: '79161234567', operator: 'megafon', inn: '7812014560', operatorName: null, region: null },
      { line: 3, number: '79031234567', operator: 'inn_7743200179', inn: '7743200179', operatorName: 'ООО "Тинькофф Мобайл"', region: 'Москва' },
      { line: 4, number: '79261234567', operator: 'beeline', inn: '7713076301', operatorName: null, region: null },
    ]);
  });

  test('bad numbers, unknown operators, wrong field counts and repeated numbers are reported by line', () => {
    const r = parsePorted('79161234567;mts\nabc;mts\n79261234567;tele2\n79031234567\n79161234567;t2\n');
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.deepEqual(
      r.problems.map((p) => p.line),
      [2, 3, 4, 5],
    );
    assert.match(r.problems[0]!.issue, /number "abc"/);
    assert.match(r.problems[1]!.issue, /operator "tele2"/);
    assert.match(r.problems[2]!.issue, /1 fields/);
    assert.match(r.problems[3]!.issue, /also on line 1/);
  });
});
