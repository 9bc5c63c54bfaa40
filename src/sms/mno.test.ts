import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseRegistry } from './mno-csv.ts';
import { MnoIndex, NAMED_OPERATORS, operatorCode, parseOperatorRef } from './mno.ts';

/** The registry copy in shared/data (see its README); tests fail, not skip, when it is missing. */
const REGISTRY_FILE = process.env.DEPESHA_TEST_REGISTRY ?? new URL('../../../shared/data/DEF-9xx.csv', import.meta.url).pathname;

const parsed = parseRegistry(readFileSync(REGISTRY_FILE, 'utf8'));
if (!parsed.ok) throw new Error(`the registry copy does not parse: ${JSON.stringify(parsed.problems.slice(0, 3))}`);
const ranges = parsed.rows;
const MOSCOW = 'г. Москва и Московская область';

describe('operator lookup on the registry file', () => {
  const index = new MnoIndex(ranges);

  test('the whole file loads: 9,677 ranges of 85 operators, the big four by INN', () => {
    assert.equal(index.rangeCount, 9677);
    assert.equal(new Set(ranges.map((r) => r.inn)).size, 85);
    const names = Object.fromEntries(Object.entries(NAMED_OPERATORS).map(([inn, code]) => [code, ranges.find((r) => r.inn === inn)?.operatorName]));
    assert.deepEqual(names, { mts: 'ПАО "Мобильные ТелеСистемы"', megafon: 'ПАО "МегаФон"', beeline: 'ПАО "Вымпел-Коммуникации"', t2: 'ООО "Т2 Мобайл"' });
  });

  test('known numbers give their operator and region', () => {
    const cases: [string, string, string, string][] = [
      ['79161234567', 'mts', 'ПАО "Мобильные ТелеСистемы"', MOSCOW],
      ['79261234567', 'megafon', 'ПАО "МегаФон"', MOSCOW],
      ['79031234567', 'beeline', 'ПАО "Вымпел-Коммуникации"', MOSCOW],
      ['79040000000', 't2', 'ООО "Т2 Мобайл"', 'Тверская обл.'],
      // An MVNO: no readable code, its INN instead.
      ['79010210000', 'inn_2310031475', 'Акционерное общество "Тандер"', 'Ростовская обл.'],
      ['79999999999', 'inn_7701725181', 'ООО "Скартел"', MOSCOW],
    ];
    for (const [number, operator, operatorName, region] of cases) {
      assert.deepEqual(index.lookup(number), { operator, operatorName, region, ported: false }, number);
    }
  });

  test('range boundaries: From and To are in the range, To + 1 is in the next or in none', () => {
    // 900;0;61999 Краснодарский край, then 900;62000;62999 Ростовская обл.
    assert.equal(index.lookup('79000000000')?.region, 'Краснодарский край');
    assert.equal(index.lookup('79000061999')?.region, 'Краснодарский край');
    assert.equal(index.lookup('79000062000')?.region, 'Ростовская обл.');
    // 901;210000;238499 is followed by a gap up to 901;300000.
    assert.equal(index.lookup('79010210000')?.operator, 'inn_2310031475');
    assert.equal(index.lookup('79010238499')?.operator, 'inn_2310031475');
    assert.equal(index.lookup('79010238500'), null);
    assert.equal(index.lookup('79010299999'), null);
    assert.equal(index.lookup('79010300000')?.operator, 't2');
  });

  test('numbers the registry does not cover have no operator', () => {
    for (const number of ['78999999999', '74951234567', '447911123456', '7916123456', '791612345678', '', 'abc', '7.9161234567e10', '+79161234567']) assert.equal(index.lookup(number), null, number);
  });

  test('a ported number overrides the registry; its region stays the range\'s unless given', () => {
    const ported = new MnoIndex(ranges, [
      { number: '79161234567', operator: 'megafon', operatorName: null, region: null },
      { number: '79010238500', operator: 'inn_7743200179', operatorName: 'ООО "Тинькофф Мобайл"', region: 'Ростовская обл.' },
    ]);
    assert.deepEqual(ported.lookup('79161234567'), { operator: 'megafon', operatorName: 'ПАО "МегаФон"', region: MOSCOW, ported: true });
    assert.deepEqual(ported.lookupRegistry('79161234567'), { operator: 'mts', operatorName: 'ПАО "Мобильные ТелеСистемы"', region: MOSCOW, ported: false });
    // The neighbour is untouched; a number outside every range can be ported too.
    assert.equal(ported.lookup('79161234568')?.operator, 'mts');
    assert.equal(ported.lookup('79010238500')?.operator, 'inn_7743200179');
    // Changes after a full load: removing a loaded number, adding one, changing one.
    ported.setPorted('79161234567', null);
    assert.equal(ported.lookup('79161234567')?.operator, 'mts');
    assert.equal(ported.portedCount, 1);
    ported.setPorted('79031234567', { operator: 'mts', operatorName: null, region: null });
    ported.setPorted('79010238500', { operator: 'beeline', operatorName: null, region: null });
    assert.deepEqual(ported.lookup('79031234567'), { operator: 'mts', operatorName: 'ПАО "Мобильные ТелеСистемы"', region: MOSCOW, ported: true });
    assert.deepEqual(ported.lookup('79010238500'), { operator: 'beeline', operatorName: 'ПАО "Вымпел-Коммуникации"', region: null, ported: true });
    assert.equal(ported.portedCount, 2);
    ported.replacePorted([{ number: '79261234567', operator: 't2', operatorName: null, region: null }]);
    assert.equal(ported.portedCount, 1);
    assert.equal(ported.lookup('79261234567')?.operator, 't2');
    assert.equal(ported.lookup('79010238500'), null);
  });

  test('an empty index answers null', () => {
    assert.equal(new MnoIndex([]).lookup('79161234567'), null);
  });
});

describe('operator codes', () => {
  test('the big four by INN, everyone else inn_<INN>', () => {
    assert.equal(operatorCode('7740000076'), 'mts');
    assert.equal(operatorCode('7743200179'), 'inn_7743200179');
  });

  test('an operator is named by its code or its INN', () => {
    assert.deepEqual(parseOperatorRef('megafon'), { operator: 'megafon', inn: '7812014560' });
    assert.deepEqual(parseOperatorRef('7812014560'), { operator: 'megafon', inn: '7812014560' });
    assert.deepEqual(parseOperatorRef('inn_7812014560'), { operator: 'megafon', inn: '7812014560' });
    assert.deepEqual(parseOperatorRef(' inn_7743200179 '), { operator: 'inn_7743200179', inn: '7743200179' });
    assert.deepEqual(parseOperatorRef('770123456789'), { operator: 'inn_770123456789', inn: '770123456789' });
    for (const bad of ['', 'MTS', 'tele2', 'inn_123', '12345678901', 'inn_']) assert.equal(parseOperatorRef(bad), null, bad);
  });
});
