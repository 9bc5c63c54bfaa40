import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from './config.ts';
import { formatProblems, parsePorted, parseRegistry } from './sms/mno-csv.ts';
import { openDatabase } from './store/db.ts';
import { MnoRepository } from './store/mno.ts';

export const MNO_USAGE = `usage: depesha mno <command>

commands:
  import <file>                     load a numbering-plan registry file (DEF-9xx.csv format) as the new
                                    current version, replacing the previous one at once
  import-ported <file> [--replace]  add or replace ported numbers from a file of number;operator rows
                                    (--replace: the file is the whole table)

A file with any bad row is refused whole and nothing is written (exit code 65).
Running gateways load the change within a few seconds. Formats: docs/mno.md`;

/** Exit code for a refused file (sysexits EX_DATAERR). */
export const EXIT_BAD_FILE = 65;

/** `depesha mno …`: imports run in their own process, against the configured database. */
export async function runMno(args: string[], config: Config, out: { stdout: (t: string) => void; stderr: (t: string) => void }): Promise<number> {
  const [command, ...rest] = args;
  const replace = rest.includes('--replace');
  const files = rest.filter((a) => a !== '--replace');
  const known = command === 'import' || command === 'import-ported';
  if (!known || files.length !== 1 || (replace && command !== 'import-ported') || rest.some((a) => a.startsWith('-') && a !== '--replace')) {
    if (command === undefined || command === 'help' || command === '--help') {
      out.stdout(MNO_USAGE + '\n');
      return 0;
    }
    out.stderr(`depesha mno: bad arguments: ${args.join(' ')}\n\n${MNO_USAGE}\n`);
    return 2;
  }
  const file = files[0]!;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    out.stderr(`depesha mno ${command}: cannot read ${file}: ${(err as Error).message}\n`);
    return EXIT_BAD_FILE;
  }
  const refused = (problems: Parameters<typeof formatProblems>[0]) => {
    out.stderr(`depesha mno ${command}: ${file} refused, nothing was written: ${problems.length} bad rows\n${formatProblems(problems)}\n`);
    return EXIT_BAD_FILE;
  };
  const source = path.basename(file);
  if (command === 'import') {
    const parsed = parseRegistry(text);
    if (!parsed.ok) return refused(parsed.problems);
    return withRepository(config, async (repo) => {
      const v = await repo.importRegistry(parsed.rows, source);
      out.stdout(`imported ${source} as registry version ${v.version}: ${v.ranges} ranges, ${v.operators} operators\n`);
    });
  }
  const parsed = parsePorted(text, config.defaults.region);
  if (!parsed.ok) return refused(parsed.problems);
  return withRepository(config, async (repo) => {
    const now = Date.now();
    const rows = parsed.rows.map((p) => ({ number: p.number, operator: p.operator, inn: p.inn, operator_name: p.operatorName, region: p.region, updated_at: now }));
    const { total } = await repo.importPorted(rows, { replace }, now);
    out.stdout(`imported ${rows.length} ported numbers from ${source}${replace ? ' (the table replaced)' : ''}; ${total} in the table\n`);
  });
}

async function withRepository(config: Config, work: (repo: MnoRepository) => Promise<void>): Promise<number> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, sqlitePath: path.join(config.dataDir, 'depesha.sqlite'), sqliteSynchronous: config.sqlite.synchronous });
  try {
    await database.migrate();
    await work(new MnoRepository(database.db));
    return 0;
  } finally {
    await database.close();
  }
}
