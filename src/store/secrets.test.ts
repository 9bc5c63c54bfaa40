import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { SecretBox } from './secrets.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'secrets-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a sealed secret opens with the same key only, and the key file is private', () => {
  const box = SecretBox.fromConfig(undefined, dir);
  assert.equal((statSync(path.join(dir, 'secret.key')).mode & 0o777).toString(8), '600');
  const sealed = box.seal('s3cret');
  assert.ok(!sealed.includes('s3cret'));
  assert.equal(SecretBox.fromConfig(undefined, dir).open(sealed), 's3cret');
  const other = new SecretBox(Buffer.alloc(32, 1));
  assert.throws(() => other.open(sealed));
  assert.notEqual(box.seal('s3cret'), sealed, 'a fresh IV every time');
});
