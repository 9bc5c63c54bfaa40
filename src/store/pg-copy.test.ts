import assert from 'node:assert/strict';
import { test } from 'node:test';
import { copyField, copyText } from './pg-copy.ts';

test('COPY text fields: NULL, integers, the four characters that must be escaped, and the rest as it is', () => {
  assert.equal(copyField(null), '\\N');
  assert.equal(copyField('\\N'), '\\\\N', 'the two characters backslash-N, not NULL');
  assert.equal(copyField(''), '', 'an empty string is not NULL');
  assert.equal(copyField(0), '0');
  assert.equal(copyField(-42), '-42');
  assert.equal(copyField('a\tb'), 'a\\tb');
  assert.equal(copyField('line 1\nline 2\r\n'), 'line 1\\nline 2\\r\\n');
  assert.equal(copyField('C:\\path\\to'), 'C:\\\\path\\\\to');
  assert.equal(copyField('\\.'), '\\\\.', 'the end-of-data marker is data here');
  assert.equal(copyField('\\t'), '\\\\t', 'a backslash before t stays two characters');
  assert.equal(copyField('Ёжик «в тумане» 😀'), 'Ёжик «в тумане» 😀');
  assert.equal(copyField('{"a":"x\\ny"}'), '{"a":"x\\\\ny"}', 'JSON escapes are backslashes like any other');
  assert.equal(copyField('\u0007\b\f\v'), '\u0007\b\f\v', 'other control characters are taken as they are');
  assert.equal(copyField("quote ' and \" comma ,"), "quote ' and \" comma ,");
});

test('COPY text fields that PostgreSQL cannot take throw rather than go wrong', () => {
  assert.throws(() => copyField('a\0b'), /NUL/);
  assert.throws(() => copyField(1.5), /not an integer/);
  assert.throws(() => copyField(Number.NaN), /not an integer/);
});

test('COPY text rows: tab between fields, a newline after each row', () => {
  assert.equal(copyText([]), '');
  assert.equal(
    copyText([
      ['imp_1', 2, null, 'Имя\tс табом'],
      ['imp_1', 3, '', 'два\nряда'],
    ]),
    'imp_1\t2\t\\N\tИмя\\tс табом\nimp_1\t3\t\tдва\\nряда\n',
  );
});
