// Builds the cabinet when dist/web is missing or older than its sources, so `npm start`
// serves it out of the box and a second start costs nothing. Node script, not part of the app.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const here = import.meta.dirname;
const root = path.resolve(here, '../..');
const index = path.join(root, 'dist/web/index.html');

function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

export function buildCabinetIfStale(): boolean {
  const sources = Math.max(newest(path.join(here, 'src')), statSync(path.join(here, 'index.html')).mtimeMs, statSync(path.join(here, 'vite.config.ts')).mtimeMs);
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return false;
  execFileSync(process.execPath, [path.join(root, 'node_modules/vite/bin/vite.js'), 'build', '--config', path.join(here, 'vite.config.ts'), '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
  return true;
}

if (import.meta.main) buildCabinetIfStale();
