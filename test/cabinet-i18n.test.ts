import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

/**
 * The cabinet speaks Russian and English: every phrase a page passes to t()
 * as a literal has its Russian in src/web/src/i18n.tsx (the English text is
 * the key). A phrase without it would show in English on the Russian cabinet.
 */
const WEB = path.resolve(import.meta.dirname, '../src/web/src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [path.join(dir, e.name)] : []));
}

/** A JS string literal's value: the escapes the pages use. */
const unescape = (s: string) => s.replace(/\\(['"\\])/g, '$1');

test('every literal phrase of the cabinet has its Russian', () => {
  const i18n = readFileSync(path.join(WEB, 'i18n.tsx'), 'utf8');
  const dictionary = i18n.slice(i18n.indexOf('const RU'), i18n.indexOf('\n};', i18n.indexOf('const RU')));
  const keys = new Set<string>();
  for (const m of dictionary.matchAll(/^\s+(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([A-Za-z_]\w*)):/gm)) keys.add(unescape(m[1] ?? m[2] ?? m[3]!));
  assert.ok(keys.size > 200, `the dictionary was read (${keys.size} phrases)`);
  const missing: string[] = [];
  let phrases = 0;
  for (const file of sources(WEB)) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\bt\(\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")/g)) {
      phrases++;
      const phrase = unescape(m[1] ?? m[2]!);
      if (!keys.has(phrase)) missing.push(`${path.relative(WEB, file)}: ${phrase}`);
    }
  }
  assert.ok(phrases > 200, `the pages were read (${phrases} phrases)`);
  assert.deepEqual(missing, [], 'phrases without Russian');
});
