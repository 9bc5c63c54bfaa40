import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { randomBytes } from 'node:crypto';
import { Type } from 'typebox';
import { ApiError } from '../../../errors.ts';
import type { AccountsRepository } from '../../../store/accounts.ts';
import type { AuditRepository } from '../../../store/audit.ts';
import type { SessionsRepository } from '../../../store/sessions.ts';
import { ACCOUNT_ROLES, isPlatformRole, PLATFORM_ROLES, type UserRole, type UserRow, type UsersRepository } from '../../../store/users.ts';
import { requireRole, type AuthContext } from '../auth.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { ErrorSchema, IdParams } from '../schemas.ts';
import { audit } from './audit.ts';

const Role = Type.Enum([...PLATFORM_ROLES, ...ACCOUNT_ROLES], { description: 'platform: administrator, staff (no account); in an account: owner, manager, viewer' });

const userFields = {
  id: Type.String(),
  object: Type.Literal('user'),
  email: Type.String(),
  role: Role,
  account_id: Type.Union([Type.String(), Type.Null()], { description: 'null for platform users' }),
  locked_until: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'set after 5 wrong passwords in a row' }),
  disabled: Type.Boolean(),
  created_at: Type.String({ format: 'date-time' }),
};
const UserSchema = Type.Object(userFields, { additionalProperties: false });
const UserWithPasswordSchema = Type.Object(
  { ...userFields, temporary_password: Type.String({ description: 'shown only in this answer; hand it to the user, who changes it after signing in' }) },
  {
    additionalProperties: false,
    examples: [
      {
        id: 'usr_01KAT0USER000000000000000',
        object: 'user',
        email: 'manager@example.com',
        role: 'manager',
        account_id: 'acc_01KAT0DEMO00000000000000000',
        locked_until: null,
        disabled: false,
        created_at: '2026-12-01T12:00:00.000Z',
        temporary_password: 'k3Vq9sWm2pXz8aBf',
      },
    ],
  },
);

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const present = (u: UserRow) => ({
  id: u.id,
  object: 'user' as const,
  email: u.email,
  role: u.role as UserRole,
  account_id: u.account_id,
  locked_until: u.locked_until !== null && u.locked_until > Date.now() ? iso(u.locked_until) : null,
  disabled: u.disabled_at !== null,
  created_at: new Date(u.created_at).toISOString(),
});

const temporaryPassword = () => randomBytes(12).toString('base64url');
const MANAGERS: UserRole[] = ['owner', 'administrator', 'staff'];

export interface UsersDeps {
  accounts: AccountsRepository;
  users: UsersRepository;
  sessions: SessionsRepository;
  audit: AuditRepository;
}

/**
 * Cabinet users. An owner invites users into the account and sets their
 * roles; platform administrators also make platform users (administrator,
 * staff) and reset anyone's password. Staff manage account users only.
 */
export function usersRoutes(deps: UsersDeps): FastifyPluginAsyncTypebox {
  /** The user the caller may manage, or not_found. */
  async function target(auth: AuthContext, userId: string): Promise<UserRow> {
    const user = isPlatformRole(auth.principal) ? await deps.users.findById(userId) : await deps.users.get(auth.account.id, userId);
    if (!user) throw new ApiError('not_found', `no user ${userId}`);
    if (isPlatformRole(user.role) && auth.principal !== 'administrator') throw new ApiError('forbidden', 'only an administrator manages platform users');
    return user;
  }

  function checkAssignable(auth: AuthContext, role: UserRole): void {
    if (isPlatformRole(role) && auth.principal !== 'administrator') throw new ApiError('forbidden', `only an administrator may give the role ${role}`);
  }

  return async (app) => {
    app.post(
      '/v1/users',
      {
        schema: {
          summary: 'Invite a user',
          description: 'Makes a user of your account (owner, manager, viewer) with a temporary password shown once; administrators also make platform users (administrator, staff, in no account).',
          tags: ['users'],
          security: [{ bearerAuth: [] }],
          body: Type.Object({ email: Type.String({ pattern: '^[^@\\s]+@[^@\\s]+$', maxLength: 320, examples: ['manager@example.com'] }), role: Role }, { additionalProperties: false }),
          response: { 201: UserWithPasswordSchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 409: ErrorSchema },
        },
      },
      async (request, reply) => {
        const auth = requireRole(request, MANAGERS);
        const { email, role } = request.body;
        checkAssignable(auth, role);
        if (await deps.users.findByEmail(email)) throw new ApiError('email_taken', `a user with the email ${email} exists already`, [{ field: 'email', issue: 'taken' }]);
        const password = temporaryPassword();
        const user = await deps.users.create({ email, password, role, accountId: isPlatformRole(role) ? null : auth.account.id });
        await audit(deps.audit, request, auth, 'user.create', user.id, { email: user.email, role });
        return reply.code(201).send({ ...present(user), temporary_password: password });
      },
    );

    app.get(
      '/v1/users',
      {
        schema: {
          summary: 'Users',
          description: 'Users of your account, newest first; `platform=true` (administrators and staff) lists the platform users instead.',
          tags: ['users'],
          security: [{ bearerAuth: [] }],
          querystring: Type.Object(
            { platform: Type.Optional(Type.Boolean()), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })), cursor: Type.Optional(Type.String()) },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ data: Type.Array(UserSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), 401: ErrorSchema, 403: ErrorSchema },
        },
      },
      async (request) => {
        const auth = requireRole(request, [...MANAGERS, 'manager']);
        const q = request.query;
        if (q.platform && !isPlatformRole(auth.principal)) throw new ApiError('forbidden', 'only platform administrators and staff list platform users');
        const limit = q.limit ?? 50;
        const rows = await deps.users.list(q.platform ? null : auth.account.id, limit + 1, q.cursor === undefined ? undefined : decodeCursor(q.cursor, 'usr'));
        const page = rows.slice(0, limit);
        return { data: page.map(present), next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
      },
    );

    app.patch(
      '/v1/users/:id',
      {
        schema: {
          summary: 'Change a user\'s role, or disable them',
          description: 'Disabling ends the user\'s sessions. Nobody changes their own role or disables themselves.',
          tags: ['users'],
          security: [{ bearerAuth: [] }],
          params: IdParams,
          body: Type.Object({ role: Type.Optional(Role), disabled: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
          response: { 200: UserSchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema },
        },
      },
      async (request) => {
        const auth = requireRole(request, MANAGERS);
        const user = await target(auth, request.params.id);
        const { role, disabled } = request.body;
        if (user.id === auth.session?.userId) throw new ApiError('forbidden', 'you cannot change your own role or disable yourself; ask another owner or an administrator');
        if (role !== undefined) {
          checkAssignable(auth, role);
          // A user stays on its side: account users get account roles, platform users platform roles.
          if (isPlatformRole(role) !== isPlatformRole(user.role)) throw new ApiError('forbidden', `a user ${user.account_id === null ? 'of the platform' : 'of an account'} cannot get the role ${role}`);
        }
        const updated = await deps.users.update(user.account_id, user.id, { ...(role === undefined ? {} : { role }), ...(disabled === undefined ? {} : { disabledAt: disabled ? Date.now() : null }) });
        if (disabled) await deps.sessions.revokeUser(user.id);
        await audit(deps.audit, request, auth, 'user.update', user.id, { ...(role === undefined ? {} : { role }), ...(disabled === undefined ? {} : { disabled }) });
        return present(updated!);
      },
    );

    app.post(
      '/v1/users/:id/reset-password',
      {
        schema: {
          summary: 'Reset a user\'s password',
          description: 'Sets a new temporary password, shown once, lifts a lockout and ends the user\'s sessions. Owners reset their account\'s users; administrators anyone.',
          tags: ['users'],
          security: [{ bearerAuth: [] }],
          params: IdParams,
          response: { 200: UserWithPasswordSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema },
        },
      },
      async (request) => {
        const auth = requireRole(request, MANAGERS);
        const user = await target(auth, request.params.id);
        const password = temporaryPassword();
        await deps.users.setPassword(user.account_id, user.id, password);
        await deps.sessions.revokeUser(user.id);
        await audit(deps.audit, request, auth, 'user.reset_password', user.id);
        return { ...present((await deps.users.findById(user.id))!), temporary_password: password };
      },
    );
  };
}
