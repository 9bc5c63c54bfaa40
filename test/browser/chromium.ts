/**
 * What the cabinet's browser tests share: Debian's Chromium, where their
 * screenshots go, and the rule that CI (`CI=true`) never skips them.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts/cabinet');

/** Why the browser tests cannot run here (a `skip` reason), or false; throws under CI instead of skipping. */
export function browserMissing(): string | false {
  if (existsSync(CHROMIUM)) return false;
  if (process.env.CI === 'true') throw new Error(`CI=true but ${CHROMIUM} is missing (apt-get install -y chromium)`);
  return `${CHROMIUM} is missing; apt-get install -y chromium to run the cabinet's browser tests`;
}
