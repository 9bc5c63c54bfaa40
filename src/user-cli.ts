import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from './config.ts';
import { AccountsRepository } from './store/accounts.ts';
import { openDatabase } from './store/db.ts';
import { ACCOUNT_ROLES, isPlatformRole, PLATFORM_ROLES, UsersRepository, type UserRole } from './store/users.ts';

export const USER_USAGE = `usage: depesha user create --email EMAIL --password PASSWORD --role ROLE [--account ACCOUNT_ID]

Makes a cabinet user in the configured database (migrations are applied first).
  --role administrator|staff       a platform user (no account)
  --role owner|manager|viewer      a user of --account (default: the installation's first account)
The password needs at least 10 characters.`;

/** `depesha user create …`: the way to a first (or another) administrator without the cabinet. */
export async function runUser(args: string[], config: Config, out: { stdout: (t: string) => void; stderr: (t: string) => void }): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: args.slice(1),
      options: { email: { type: 'string' }, password: { type: 'string' }, role: { type: 'string' }, account: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    out.stderr(`depesha user: ${(err as Error).message}\n\n${USER_USAGE}\n`);
    return 2;
  }
  if (args[0] !== 'create') {
    (args[0] === undefined || args[0] === 'help' ? out.stdout : out.stderr)(USER_USAGE + '\n');
    return args[0] === undefined || args[0] === 'help' ? 0 : 2;
  }
  const problems: string[] = [];
  const roles: readonly string[] = [...PLATFORM_ROLES, ...ACCOUNT_ROLES];
  if (!values.email || !/^[^@\s]+@[^@\s]+$/.test(values.email)) problems.push('--email must be an email address');
  if (!values.password || values.password.length < 10) problems.push('--password needs at least 10 characters');
  if (!values.role || !roles.includes(values.role)) problems.push(`--role must be one of ${roles.join(', ')}`);
  if (values.role && isPlatformRole(values.role) && values.account) problems.push('platform users (administrator, staff) belong to no --account');
  if (problems.length > 0) {
    out.stderr(`depesha user: ${problems.join('; ')}\n\n${USER_USAGE}\n`);
    return 2;
  }
  const database = await openDatabase({ databaseUrl: config.databaseUrl, sqlitePath: path.join(config.dataDir, 'depesha.sqlite'), sqliteSynchronous: config.sqlite.synchronous });
  try {
    await database.migrate();
    const users = new UsersRepository(database.db);
    const accounts = new AccountsRepository(database.db);
    if (await users.findByEmail(values.email!)) {
      out.stderr(`depesha user: a user with the email ${values.email} exists already\n`);
      return 1;
    }
    const role = values.role as UserRole;
    let accountId: string | null = null;
    if (!isPlatformRole(role)) {
      const account = values.account ? await accounts.getAccount(values.account) : await accounts.firstAccount();
      if (!account) {
        out.stderr(values.account ? `depesha user: no account ${values.account}\n` : 'depesha user: there is no account yet; start the gateway once (it makes the first) or give --role administrator\n');
        return 1;
      }
      accountId = account.id;
    }
    const user = await users.create({ email: values.email!, password: values.password!, role, accountId });
    out.stdout(`user ${user.id} (${user.email}, ${role}${accountId ? ` in ${accountId}` : ''}) created\n`);
    return 0;
  } finally {
    await database.close();
  }
}
