import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { isValidTimeZone } from '../../../domain/quiet-hours.ts';
import { ApiError } from '../../../errors.ts';
import { verifyPassword, type AccountsRepository } from '../../../store/accounts.ts';
import type { AuditRepository } from '../../../store/audit.ts';
import { csrfTokenFor, type SessionsRepository } from '../../../store/sessions.ts';
import { isPlatformRole, type UsersRepository } from '../../../store/users.ts';
import { clearSessionCookie, requireAuth, setSessionCookie, SESSION_COOKIE } from '../auth.ts';
import { ErrorSchema } from '../schemas.ts';
import { audit } from './audit.ts';

const Role = Type.Enum(['administrator', 'staff', 'owner', 'manager', 'viewer']);
const Language = Type.Enum(['ru', 'en']);
const Password = Type.String({ minLength: 1, maxLength: 1024 });
export const MIN_PASSWORD_LENGTH = 10;

const SessionSchema = Type.Object(
  {
    object: Type.Literal('session'),
    kind: Type.Enum(['cookie', 'api_key'], { description: '`cookie`: signed in to the cabinet; `api_key`: a program' }),
    id: Type.Union([Type.String(), Type.Null()]),
    role: Role,
    user: Type.Union([
      Type.Object({
        id: Type.String(),
        email: Type.String(),
        time_zone: Type.Union([Type.String(), Type.Null()], { description: 'the IANA zone the cabinet shows your dates in; null: the account\'s' }),
        language: Type.Union([Language, Type.Null()], { description: 'the cabinet\'s language for you; null: the browser\'s' }),
      }),
      Type.Null(),
    ]),
    account: Type.Object({ id: Type.String(), name: Type.String(), time_zone: Type.String() }),
    csrf_token: Type.Union([Type.String(), Type.Null()], { description: 'send it in `X-CSRF-Token` with every signed-in request that changes something' }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        object: 'session',
        kind: 'cookie',
        id: 'ses_01KAT0SESSION00000000000000',
        role: 'owner',
        user: { id: 'usr_01KAT0USER000000000000000', email: 'owner@example.com', time_zone: 'Asia/Novosibirsk', language: 'ru' },
        account: { id: 'acc_01KAT0DEMO00000000000000000', name: 'Demo', time_zone: 'Europe/Moscow' },
        csrf_token: 'mXb2C1t7oJ0cV5-8X0bb9Q6y2oLq1pZ1kK0x3rQy0aE',
      },
    ],
  },
);

/** Failed sign-ins one address may make per minute, whoever they are for (guessing across many users). */
const FAILURES_PER_IP_PER_MINUTE = 20;

class FailuresPerAddress {
  readonly #windows = new Map<string, { start: number; count: number }>();

  /** Seconds to wait, or 0 when the address may try. */
  wait(ip: string, now = Date.now()): number {
    const w = this.#windows.get(ip);
    if (!w || now - w.start >= 60_000 || w.count < FAILURES_PER_IP_PER_MINUTE) return 0;
    return Math.ceil((w.start + 60_000 - now) / 1000);
  }

  fail(ip: string, now = Date.now()): void {
    let w = this.#windows.get(ip);
    if (!w || now - w.start >= 60_000) {
      if (this.#windows.size > 10_000) this.#windows.clear();
      w = { start: now, count: 0 };
      this.#windows.set(ip, w);
    }
    w.count++;
  }
}

// Checked against when the email is unknown, so a wrong email takes as long as a wrong password.
const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

export interface SessionDeps {
  accounts: AccountsRepository;
  users: UsersRepository;
  sessions: SessionsRepository;
  audit: AuditRepository;
}

/** Cabinet sign-in and sign-out, who am I, password change. */
export function sessionsRoutes(deps: SessionDeps): FastifyPluginAsyncTypebox {
  const failures = new FailuresPerAddress();
  return async (app) => {
    app.post(
      '/v1/sessions',
      {
        schema: {
          summary: 'Sign in to the cabinet',
          description: `Sets the session cookie (\`${SESSION_COOKIE}\`: HttpOnly, SameSite=Strict, Secure over HTTPS) and answers with the CSRF token. Five wrong passwords in a row lock the user for 15 minutes; one address may fail 20 times a minute. Public: needs no key.`,
          tags: ['sessions'],
          body: Type.Object({ email: Type.String({ minLength: 3, maxLength: 320, examples: ['owner@example.com'] }), password: Password }, { additionalProperties: false }),
          response: { 201: SessionSchema, 400: ErrorSchema, 401: ErrorSchema, 429: ErrorSchema },
        },
      },
      async (request, reply) => {
        const { email, password } = request.body;
        const failed = (userId: string | null, accountId: string | null, why: string) => {
          if (why !== 'address_rate_limited') failures.fail(request.ip);
          return deps.audit.record({ accountId, actorType: 'anonymous', actorId: userId, actorLabel: email.trim().toLowerCase(), action: 'session.sign_in', targetId: userId, outcome: 'failed', details: { reason: why }, ip: request.ip });
        };
        const wait = failures.wait(request.ip);
        if (wait > 0) {
          await failed(null, null, 'address_rate_limited');
          throw new ApiError('sign_in_locked', `too many sign-in attempts from this address; wait ${wait} s`, [], { 'retry-after': String(wait) });
        }
        const now = Date.now();
        const user = await deps.users.findByEmail(email);
        if (user?.locked_until && user.locked_until > now) {
          const seconds = Math.ceil((user.locked_until - now) / 1000);
          await failed(user.id, user.account_id, 'locked');
          throw new ApiError('sign_in_locked', `too many wrong passwords; this user is locked for ${seconds} s more, or until an administrator resets the password`, [], { 'retry-after': String(seconds) });
        }
        const ok = await verifyPassword(password, user?.password_hash ?? DUMMY_HASH);
        if (!user || !ok || user.disabled_at !== null) {
          if (user && !ok) await deps.users.recordFailedSignIn(user.id, now);
          await failed(user?.id ?? null, user?.account_id ?? null, user ? (ok ? 'disabled' : 'wrong_password') : 'unknown_email');
          throw new ApiError('invalid_credentials', 'the email or the password is wrong');
        }
        await deps.users.recordSignIn(user.id);
        // A platform user acts in the installation's first account until it switches (PATCH /v1/session).
        const account = user.account_id === null ? await deps.accounts.firstAccount() : await deps.accounts.getAccount(user.account_id);
        if (!account) throw new ApiError('invalid_credentials', 'the user belongs to no account');
        const { session, token } = await deps.sessions.create({ userId: user.id, accountId: account.id, ip: request.ip, userAgent: request.headers['user-agent'] ?? null }, now);
        setSessionCookie(request, reply, token);
        await deps.audit.record({ accountId: account.id, actorType: 'user', actorId: user.id, actorLabel: user.email, action: 'session.sign_in', targetId: session.id, outcome: 'succeeded', ip: request.ip });
        return reply.code(201).send({
          object: 'session' as const,
          kind: 'cookie' as const,
          id: session.id,
          role: user.role as 'owner',
          user: { id: user.id, email: user.email, time_zone: user.time_zone, language: user.language as 'ru' | null },
          account: { id: account.id, name: account.name, time_zone: account.time_zone },
          csrf_token: csrfTokenFor(token),
        });
      },
    );

    app.get(
      '/v1/session',
      { schema: { summary: 'Who am I', description: 'The caller: the signed-in user and the CSRF token, or the API key\'s role and account.', tags: ['sessions'], response: { 200: SessionSchema, 401: ErrorSchema } } },
      async (request) => {
        const auth = requireAuth(request);
        return {
          object: 'session' as const,
          kind: auth.session ? ('cookie' as const) : ('api_key' as const),
          id: auth.session?.id ?? null,
          role: auth.principal,
          user: auth.session ? { id: auth.session.userId, email: auth.session.email, time_zone: auth.session.timeZone, language: auth.session.language as 'ru' | null } : null,
          account: { id: auth.account.id, name: auth.account.name, time_zone: auth.account.time_zone },
          csrf_token: auth.session?.csrfToken ?? null,
        };
      },
    );

    app.delete(
      '/v1/session',
      { schema: { summary: 'Sign out', tags: ['sessions'], response: { 204: Type.Null(), 401: ErrorSchema, 403: ErrorSchema } } },
      async (request, reply) => {
        const auth = requireAuth(request);
        if (auth.session) await deps.sessions.revoke(auth.session.id);
        clearSessionCookie(request, reply);
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/v1/session/password',
      {
        schema: {
          summary: 'Change your password',
          description: `Needs the current password; the new one has at least ${MIN_PASSWORD_LENGTH} characters. Your other sessions end.`,
          tags: ['sessions'],
          body: Type.Object({ current_password: Password, new_password: Type.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false }),
          response: { 204: Type.Null(), 401: ErrorSchema, 403: ErrorSchema, 422: ErrorSchema },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        if (!auth.session) throw new ApiError('forbidden', 'only a signed-in user has a password; API keys are revoked and made anew instead');
        const user = await deps.users.findById(auth.session.userId);
        if (!user || !(await verifyPassword(request.body.current_password, user.password_hash))) throw new ApiError('weak_password', 'current_password is wrong', [{ field: 'current_password', issue: 'wrong' }]);
        if (request.body.new_password.length < MIN_PASSWORD_LENGTH) throw new ApiError('weak_password', `the new password needs at least ${MIN_PASSWORD_LENGTH} characters`, [{ field: 'new_password', issue: 'too short' }]);
        await deps.users.setPassword(user.account_id, user.id, request.body.new_password);
        await deps.sessions.revokeUser(user.id, auth.session.id);
        await audit(deps.audit, request, auth, 'user.change_password', user.id);
        return reply.code(204).send(null);
      },
    );

    app.patch(
      '/v1/session',
      {
        schema: {
          summary: 'Your preferences, or act in another account',
          description:
            'Only the fields given change. `user.time_zone` (an IANA zone, or null for the account\'s) and `user.language` (`ru`, `en`, or null for the browser\'s) are kept on your user, for every session of yours; any signed-in user sets their own. `account_id` is for platform administrators and staff: the session acts in that account from now on.',
          tags: ['sessions'],
          body: Type.Object(
            {
              account_id: Type.Optional(Type.String()),
              user: Type.Optional(
                Type.Object(
                  { time_zone: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()])), language: Type.Optional(Type.Union([Language, Type.Null()])) },
                  { additionalProperties: false },
                ),
              ),
            },
            { additionalProperties: false, examples: [{ user: { time_zone: 'Asia/Novosibirsk', language: 'ru' } }] },
          ),
          response: { 200: SessionSchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 422: ErrorSchema },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const session = auth.session;
        const { account_id: accountId, user: prefs } = request.body;
        if (!session) throw new ApiError('forbidden', 'an API key has no user or session to change; sign in to the cabinet');
        if (accountId !== undefined && !isPlatformRole(auth.principal)) throw new ApiError('forbidden', 'only a signed-in platform administrator or staff member may switch accounts');
        if (prefs?.time_zone != null && !isValidTimeZone(prefs.time_zone)) {
          throw new ApiError('invalid_setting', `${prefs.time_zone} is not an IANA time zone (like Europe/Moscow)`, [{ field: 'user.time_zone', issue: `${prefs.time_zone} is not an IANA time zone` }]);
        }
        let account = auth.account;
        if (accountId !== undefined) {
          const found = await deps.accounts.getAccount(accountId);
          if (!found) throw new ApiError('unknown_account', `no account ${accountId}`, [{ field: 'account_id', issue: 'unknown' }]);
          account = found;
        }
        let { timeZone, language } = session;
        if (prefs !== undefined) {
          const me = await deps.users.findById(session.userId);
          const updated = me && (await deps.users.setPreferences(me.account_id, me.id, { ...(prefs.time_zone === undefined ? {} : { timeZone: prefs.time_zone }), ...(prefs.language === undefined ? {} : { language: prefs.language }) }));
          if (!updated) throw new ApiError('unauthorized', 'the session has ended; sign in again');
          ({ time_zone: timeZone, language } = updated);
        }
        if (accountId !== undefined) {
          await deps.sessions.switchAccount(session.id, account.id);
          await audit(deps.audit, request, { ...auth, account }, 'session.switch_account', account.id);
        }
        return {
          object: 'session' as const,
          kind: 'cookie' as const,
          id: session.id,
          role: auth.principal,
          user: { id: session.userId, email: session.email, time_zone: timeZone, language: language as 'ru' | null },
          account: { id: account.id, name: account.name, time_zone: account.time_zone },
          csrf_token: session.csrfToken,
        };
      },
    );
  };
}
