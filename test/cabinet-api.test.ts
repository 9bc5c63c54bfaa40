import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { hashApiKey } from '../src/store/accounts.ts';
import { UsersRepository, type UserRole } from '../src/store/users.ts';
import { runUser } from '../src/user-cli.ts';
import { dialects, startTestGateway, type TestGateway } from './helpers.ts';

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
interface Caller {
  call(method: Method, url: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any; headers: Record<string, unknown> }>;
}

const PASSWORD = 'correct horse battery';

function keyCaller(t: TestGateway, apiKey: string): Caller {
  return {
    async call(method, url, body, headers = {}) {
      const res = await t.gateway.app.inject({ method, url, headers: { authorization: `Bearer ${apiKey}`, ...headers }, ...(body === undefined ? {} : { payload: body as object }) });
      return { status: res.statusCode, json: res.body ? res.json() : undefined, headers: res.headers };
    },
  };
}

async function signIn(t: TestGateway, email: string, password = PASSWORD): Promise<Caller & { token: string; csrf: string; cookie: { httpOnly?: boolean; sameSite?: string; path?: string } }> {
  const res = await t.gateway.app.inject({ method: 'POST', url: '/v1/sessions', payload: { email, password } });
  assert.equal(res.statusCode, 201, res.body);
  const cookie = res.cookies.find((c) => c.name === 'depesha_session')!;
  const csrf = res.json().csrf_token as string;
  return {
    token: cookie.value,
    csrf,
    cookie,
    async call(method, url, body, headers = {}) {
      const r = await t.gateway.app.inject({ method, url, cookies: { depesha_session: cookie.value }, headers: { 'x-csrf-token': csrf, ...headers }, ...(body === undefined ? {} : { payload: body as object }) });
      return { status: r.statusCode, json: r.body ? r.json() : undefined, headers: r.headers };
    },
  };
}

async function makeUser(t: TestGateway, role: UserRole, accountId: string | null = t.accountId): Promise<string> {
  const email = `${role}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  await new UsersRepository(t.gateway.database.db).create({ email, password: PASSWORD, role, accountId });
  return email;
}

for (const { name, skip } of await dialects()) {
  describe(`cabinet users, sessions, roles, API keys and audit (${name})`, { skip }, () => {
    let t: TestGateway;
    before(async () => {
      t = await startTestGateway(name);
    });
    after(() => t?.close());

    test('sign-in sets an HttpOnly SameSite cookie; who-am-I; unsafe requests need the CSRF token; sign-out ends the session', async () => {
      const email = await makeUser(t, 'owner');
      const s = await signIn(t, email.toUpperCase());
      assert.equal(s.cookie.httpOnly, true);
      assert.equal(s.cookie.sameSite, 'Strict');
      const me = await s.call('GET', '/v1/session');
      assert.equal(me.status, 200);
      assert.equal(me.json.user.email, email);
      assert.equal(me.json.role, 'owner');
      assert.equal(me.json.account.id, t.accountId);
      assert.equal(me.json.csrf_token, s.csrf);

      const noCsrf = await t.gateway.app.inject({ method: 'POST', url: '/v1/messages', cookies: { depesha_session: s.token }, payload: { to: '+79161234567', text: 'hi' } });
      assert.equal(noCsrf.statusCode, 403);
      assert.equal(noCsrf.json().error.code, 'csrf_token_invalid');
      const wrongCsrf = await s.call('POST', '/v1/messages', { to: '+79161234567', text: 'hi' }, { 'x-csrf-token': s.csrf.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) });
      assert.equal(wrongCsrf.json.error.code, 'csrf_token_invalid');
      const sent = await s.call('POST', '/v1/messages', { to: '+79161234567', text: 'hi' });
      assert.equal(sent.status, 202, JSON.stringify(sent.json));
      // The path as the router decodes it decides what is the /v1 API: an encoded prefix is no way round the checks.
      const encoded = await t.gateway.app.inject({ method: 'POST', url: '/%761/messages', cookies: { depesha_session: s.token }, payload: { to: '+79161234567', text: 'hi' } });
      assert.deepEqual([encoded.statusCode, encoded.json().error.code], [403, 'csrf_token_invalid']);
      for (const url of ['/%761/session', '/v%31/mailings', '/v1/mailing%73', '/%761/balance']) {
        const anonymous = await t.gateway.app.inject({ method: 'GET', url });
        assert.equal(anonymous.statusCode, 401, `${url}: ${anonymous.body.slice(0, 100)}`);
      }
      const nul = await s.call('POST', '/%761/messages', { to: '+79161234567', text: 'a\u0000b' });
      assert.deepEqual([nul.status, nul.json.error.code], [400, 'validation_failed'], 'the NUL check too');

      assert.equal((await s.call('DELETE', '/v1/session')).status, 204);
      const afterOut = await s.call('GET', '/v1/session');
      assert.equal(afterOut.status, 401);
    });

    test('wrong passwords: the same answer for an unknown email; five lock the user, an owner\'s reset lifts the lock', async () => {
      const email = await makeUser(t, 'viewer');
      const unknown = await t.gateway.app.inject({ method: 'POST', url: '/v1/sessions', payload: { email: 'nobody@example.com', password: 'x' } });
      assert.equal(unknown.statusCode, 401);
      assert.equal(unknown.json().error.code, 'invalid_credentials');
      for (let i = 0; i < 5; i++) {
        const res = await t.gateway.app.inject({ method: 'POST', url: '/v1/sessions', payload: { email, password: 'wrong' } });
        assert.equal(res.json().error.code, 'invalid_credentials');
      }
      const locked = await t.gateway.app.inject({ method: 'POST', url: '/v1/sessions', payload: { email, password: PASSWORD } });
      assert.equal(locked.statusCode, 429);
      assert.equal(locked.json().error.code, 'sign_in_locked');
      assert.ok(Number(locked.headers['retry-after']) > 800);

      const owner = await signIn(t, await makeUser(t, 'owner'));
      const users = await owner.call('GET', '/v1/users?limit=100');
      const user = users.json.data.find((u: { email: string }) => u.email === email);
      assert.ok(user.locked_until);
      const reset = await owner.call('POST', `/v1/users/${user.id}/reset-password`);
      assert.equal(reset.status, 200);
      assert.equal(reset.json.locked_until, null);
      await signIn(t, email, reset.json.temporary_password);
    });

    test('one address that fails 20 times in a minute must wait, whichever users it tries', async () => {
      const email = await makeUser(t, 'viewer');
      const attempt = (password: string) => t.gateway.app.inject({ method: 'POST', url: '/v1/sessions', remoteAddress: '192.0.2.77', payload: { email: `guess${Math.random()}@example.com`, password } });
      for (let i = 0; i < 20; i++) assert.equal((await attempt('x')).statusCode, 401);
      const blocked = await attempt('x');
      assert.equal(blocked.json().error.code, 'sign_in_locked');
      const right = await t.gateway.app.inject({ method: 'POST', url: '/v1/sessions', remoteAddress: '192.0.2.77', payload: { email, password: PASSWORD } });
      assert.equal(right.statusCode, 429, 'even the right password waits');
      await signIn(t, email);
    });

    test('password change needs the current password and ends the other sessions', async () => {
      const email = await makeUser(t, 'manager');
      const first = await signIn(t, email);
      const second = await signIn(t, email);
      assert.equal((await second.call('POST', '/v1/session/password', { current_password: 'nope', new_password: 'a new long password' })).json.error.code, 'weak_password');
      assert.equal((await second.call('POST', '/v1/session/password', { current_password: PASSWORD, new_password: 'short' })).json.error.code, 'weak_password');
      assert.equal((await second.call('POST', '/v1/session/password', { current_password: PASSWORD, new_password: 'a new long password' })).status, 204);
      assert.equal((await first.call('GET', '/v1/session')).status, 401);
      assert.equal((await second.call('GET', '/v1/session')).status, 200);
      await signIn(t, email, 'a new long password');
    });

    test('the API refuses what each role may not do', async () => {
      const viewer = await signIn(t, await makeUser(t, 'viewer'));
      const manager = await signIn(t, await makeUser(t, 'manager'));
      const owner = await signIn(t, await makeUser(t, 'owner'));
      const staff = await signIn(t, await makeUser(t, 'staff', null));
      const admin = await signIn(t, await makeUser(t, 'administrator', null));
      const message = { to: '+79161234567', text: 'hello' };
      const webhook = { url: 'https://example.com/hook', event_types: ['message.delivered'] };
      const code = async (c: Caller, method: Method, url: string, body?: unknown) => {
        const r = await c.call(method, url, body);
        return r.status >= 400 ? r.json.error.code : r.status;
      };

      // viewer: reads, changes nothing
      assert.equal(await code(viewer, 'GET', '/v1/messages'), 200);
      assert.equal(await code(viewer, 'GET', '/v1/api-keys'), 200);
      assert.equal(await code(viewer, 'POST', '/v1/sms/segments', { text: 'hi' }), 200);
      for (const [method, url, body] of [
        ['POST', '/v1/messages', message],
        ['POST', '/v1/webhooks', webhook],
        ['PATCH', '/v1/account', { name: 'X' }],
        ['POST', '/v1/api-keys', { name: 'k' }],
        ['POST', '/v1/users', { email: 'v@example.com', role: 'viewer' }],
      ] as const) {
        assert.equal(await code(viewer, method, url, body), 'forbidden', `viewer ${method} ${url}`);
      }
      assert.equal(await code(viewer, 'GET', '/v1/audit-log'), 'forbidden');
      assert.equal(await code(viewer, 'GET', '/v1/users'), 'forbidden');

      // manager: traffic and integrations, not people, keys or settings
      assert.equal(await code(manager, 'POST', '/v1/messages', message), 202);
      assert.equal(await code(manager, 'POST', '/v1/webhooks', webhook), 201);
      assert.equal(await code(manager, 'GET', '/v1/users'), 200);
      for (const [method, url, body] of [
        ['PATCH', '/v1/account', { name: 'X' }],
        ['POST', '/v1/api-keys', { name: 'k' }],
        ['POST', '/v1/users', { email: 'm@example.com', role: 'viewer' }],
        ['POST', '/v1/smpp/credentials', { system_id: 'mgr', password: 'pw123456' }],
      ] as const) {
        assert.equal(await code(manager, method, url, body), 'forbidden', `manager ${method} ${url}`);
      }
      assert.equal(await code(manager, 'GET', '/v1/audit-log'), 'forbidden');

      // owner: the whole account, not what the gateway shares
      assert.equal(await code(owner, 'POST', '/v1/api-keys', { name: 'k' }), 201);
      assert.equal(await code(owner, 'POST', '/v1/api-keys', { name: 'k', role: 'admin' }), 'forbidden');
      assert.equal(await code(owner, 'POST', '/v1/users', { email: `o${Date.now()}@example.com`, role: 'manager' }), 201);
      assert.equal(await code(owner, 'POST', '/v1/users', { email: 'o2@example.com', role: 'administrator' }), 'forbidden');
      assert.equal(await code(owner, 'GET', '/v1/connectors'), 'forbidden');
      assert.equal(await code(owner, 'GET', '/v1/audit-log'), 200);

      // staff: connectors and routes, account users, not platform users or admin keys
      assert.equal(await code(staff, 'GET', '/v1/connectors'), 200);
      assert.equal(await code(staff, 'POST', '/v1/users', { email: 's@example.com', role: 'staff' }), 'forbidden');
      assert.equal(await code(staff, 'GET', '/v1/users?platform=true'), 200);
      assert.equal(await code(staff, 'POST', '/v1/api-keys', { name: 'k' }), 'forbidden');

      // administrator: all of it
      assert.equal(await code(admin, 'GET', '/v1/connectors'), 200);
      assert.equal(await code(admin, 'POST', '/v1/users', { email: `a${Date.now()}@example.com`, role: 'staff' }), 201);
      assert.equal(await code(admin, 'POST', '/v1/api-keys', { name: 'admin key', role: 'admin' }), 201);

      // nobody changes their own role
      const me = (await owner.call('GET', '/v1/session')).json.user.id;
      assert.equal(await code(owner, 'PATCH', `/v1/users/${me}`, { role: 'viewer' }), 'forbidden');
    });

    test('an owner changes a user\'s role and it holds at once, in the session the user already has; disabling ends it', async () => {
      const owner = await signIn(t, await makeUser(t, 'owner'));
      const email = await makeUser(t, 'manager');
      const user = await signIn(t, email);
      const id = (await user.call('GET', '/v1/session')).json.user.id as string;
      const message = { to: '+79161234567', text: 'hello' };
      assert.equal((await user.call('POST', '/v1/messages', message)).status, 202, 'a manager sends');

      const demoted = await owner.call('PATCH', `/v1/users/${id}`, { role: 'viewer' });
      assert.deepEqual([demoted.status, demoted.json.role], [200, 'viewer']);
      assert.equal((await user.call('GET', '/v1/session')).json.role, 'viewer', 'the same session, the new role');
      assert.equal((await user.call('POST', '/v1/messages', message)).json.error.code, 'forbidden', 'a viewer does not send');
      assert.equal((await user.call('GET', '/v1/messages')).status, 200, 'but reads');
      const promoted = await owner.call('PATCH', `/v1/users/${id}`, { role: 'owner' });
      assert.equal(promoted.json.role, 'owner');
      assert.equal((await user.call('POST', '/v1/api-keys', { name: 'now mine to make' })).status, 201, 'an owner makes keys');
      assert.equal((await owner.call('PATCH', `/v1/users/${id}`, { role: 'staff' })).json.error.code, 'forbidden', 'an owner gives no platform role');

      const disabled = await owner.call('PATCH', `/v1/users/${id}`, { disabled: true });
      assert.deepEqual([disabled.status, disabled.json.disabled], [200, true]);
      assert.equal((await user.call('GET', '/v1/session')).status, 401, 'the session ends at once');
      const refused = await t.gateway.app.inject({ method: 'POST', url: '/v1/sessions', payload: { email, password: PASSWORD } });
      assert.deepEqual([refused.statusCode, refused.json().error.code], [401, 'invalid_credentials'], 'and the right password does not sign in');
      assert.equal((await owner.call('PATCH', `/v1/users/${id}`, { disabled: false })).json.disabled, false);
      assert.equal((await (await signIn(t, email)).call('GET', '/v1/session')).json.role, 'owner', 'enabled again, with its role');

      const log = (await owner.call('GET', '/v1/audit-log?limit=1000')).json.data as { action: string; target_id: string; details: Record<string, unknown> }[];
      assert.deepEqual(log.filter((e) => e.action === 'user.update' && e.target_id === id).map((e) => e.details).reverse(), [{ role: 'viewer' }, { role: 'owner' }, { disabled: true }, { disabled: false }]);

      const other = await t.makeAccount();
      const theirs = await signIn(t, await makeUser(t, 'owner', other.accountId));
      assert.equal((await theirs.call('PATCH', `/v1/users/${id}`, { role: 'viewer' })).json.error.code, 'not_found', 'another account\'s owner cannot reach the user');
      assert.equal((await theirs.call('POST', `/v1/users/${id}/reset-password`)).json.error.code, 'not_found');
    });

    test('an administrator resets an account user\'s password: a temporary one shown once; the old password and sessions stop working', async () => {
      const admin = await signIn(t, await makeUser(t, 'administrator', null));
      const email = await makeUser(t, 'manager');
      const user = await signIn(t, email);
      const id = (await user.call('GET', '/v1/session')).json.user.id as string;
      const manager = await signIn(t, await makeUser(t, 'manager'));
      assert.equal((await manager.call('POST', `/v1/users/${id}/reset-password`)).json.error.code, 'forbidden', 'a manager resets nobody');

      const reset = await admin.call('POST', `/v1/users/${id}/reset-password`);
      assert.equal(reset.status, 200, JSON.stringify(reset.json));
      assert.deepEqual([reset.json.id, reset.json.email, reset.json.account_id], [id, email, t.accountId]);
      assert.ok(reset.json.temporary_password.length >= 16);
      assert.equal((await user.call('GET', '/v1/session')).status, 401, 'the user\'s sessions end');
      const old = await t.gateway.app.inject({ method: 'POST', url: '/v1/sessions', payload: { email, password: PASSWORD } });
      assert.equal(old.json().error.code, 'invalid_credentials', 'the old password is gone');
      const fresh = await signIn(t, email, reset.json.temporary_password);
      assert.equal((await fresh.call('POST', '/v1/session/password', { current_password: reset.json.temporary_password, new_password: 'chosen by the user' })).status, 204);
      await signIn(t, email, 'chosen by the user');
      const listed = (await admin.call('GET', '/v1/users?limit=1000')).json.data.find((u: { id: string }) => u.id === id);
      assert.equal('temporary_password' in listed, false, 'shown once, never listed');
      const log = (await admin.call('GET', '/v1/audit-log?limit=1000')).json.data as { action: string; target_id: string; details: unknown }[];
      const entry = log.find((e) => e.action === 'user.reset_password' && e.target_id === id);
      assert.ok(entry);
      assert.ok(!JSON.stringify(log).includes(reset.json.temporary_password), 'no password in the audit log');
    });

    test('API keys: created shown once, listed by prefix, revoked keys stop working at once; another account cannot revoke them', async () => {
      const owner = keyCaller(t, t.apiKey);
      const created = await owner.call('POST', '/v1/api-keys', { name: 'CRM' });
      assert.equal(created.status, 201);
      assert.match(created.json.key, /^dpk_[A-Za-z0-9]{32}$/);
      assert.equal(created.json.prefix, created.json.key.slice(0, 12));
      const fresh = keyCaller(t, created.json.key);
      assert.equal((await fresh.call('GET', '/v1/account')).status, 200);
      const list = await owner.call('GET', '/v1/api-keys?limit=1');
      assert.equal(list.json.data[0].id, created.json.id);
      assert.equal('key' in list.json.data[0], false);
      assert.ok(list.json.next_cursor);
      const page2 = await owner.call('GET', `/v1/api-keys?limit=1&cursor=${list.json.next_cursor}`);
      assert.notEqual(page2.json.data[0].id, created.json.id);
      // Stored hashed: the row holds the SHA-256 of the key, and the key itself (or its secret part past the prefix) in no column.
      const row = await t.gateway.database.db.selectFrom('api_keys').selectAll().where('id', '=', created.json.id).executeTakeFirstOrThrow();
      assert.equal(row.key_hash, hashApiKey(created.json.key));
      for (const [column, value] of Object.entries(row)) {
        assert.ok(!String(value).includes(created.json.key.slice(12)), `the plain key is stored in api_keys.${column}`);
      }

      const other = await t.makeAccount();
      const othersList = (await keyCaller(t, other.apiKey).call('GET', '/v1/api-keys?limit=100')).json.data as { id: string; prefix: string }[];
      assert.ok(othersList.length > 0, 'the other account sees its own key');
      assert.ok(!othersList.some((k) => k.id === created.json.id || k.prefix === created.json.prefix), 'another account lists the key');
      assert.equal((await keyCaller(t, other.apiKey).call('DELETE', `/v1/api-keys/${created.json.id}`)).json.error.code, 'not_found');
      assert.equal((await owner.call('DELETE', `/v1/api-keys/${created.json.id}`)).status, 204);
      assert.equal((await fresh.call('GET', '/v1/account')).status, 401);
      assert.equal((await owner.call('DELETE', `/v1/api-keys/${created.json.id}`)).status, 404);
      const revoked = (await owner.call('GET', '/v1/api-keys?limit=100')).json.data.find((k: { id: string }) => k.id === created.json.id);
      assert.ok(revoked.revoked_at);
    });

    test('the audit log records sign-ins, keys, webhooks and refusals; an owner sees only the account\'s', async () => {
      const ownerEmail = await makeUser(t, 'owner');
      const owner = await signIn(t, ownerEmail);
      await t.gateway.app.inject({ method: 'POST', url: '/v1/sessions', payload: { email: ownerEmail, password: 'wrong' } });
      const key = await owner.call('POST', '/v1/api-keys', { name: 'audited' });
      const hook = await owner.call('POST', '/v1/webhooks', { url: 'https://example.com/audited', event_types: ['message.sent'] });
      const viewer = await signIn(t, await makeUser(t, 'viewer'));
      await viewer.call('PATCH', '/v1/account', { name: 'nope' });

      const log = (await owner.call('GET', '/v1/audit-log?limit=1000')).json.data as { action: string; target_id: string; outcome: string; actor: { label: string }; account_id: string; details: unknown }[];
      assert.ok(log.find((e) => e.action === 'session.sign_in' && e.outcome === 'succeeded' && e.actor.label === ownerEmail));
      assert.ok(log.find((e) => e.action === 'session.sign_in' && e.outcome === 'failed' && e.actor.label === ownerEmail));
      assert.ok(log.find((e) => e.action === 'api_key.create' && e.target_id === key.json.id));
      assert.ok(log.find((e) => e.action === 'POST /v1/webhooks' && e.target_id === hook.json.id && e.outcome === 'succeeded'));
      assert.ok(log.find((e) => e.action === 'PATCH /v1/account' && e.outcome === 'failed'));
      assert.ok(!JSON.stringify(log).includes(key.json.key), 'no secret in the log');
      assert.ok(log.every((e) => e.account_id === t.accountId));

      const other = await t.makeAccount();
      const theirs = (await keyCaller(t, other.apiKey).call('GET', '/v1/audit-log')).json.data as { account_id: string }[];
      assert.ok(theirs.every((e) => e.account_id === other.accountId));
      const admin = await signIn(t, await makeUser(t, 'administrator', null));
      const all = (await admin.call('GET', `/v1/audit-log?account_id=${other.accountId}`)).json.data as { account_id: string }[];
      assert.ok(all.every((e) => e.account_id === other.accountId));
    });

    test('a platform user switches the account the session acts in', async () => {
      const admin = await signIn(t, await makeUser(t, 'administrator', null));
      const other = await t.makeAccount('Switched');
      const switched = await admin.call('PATCH', '/v1/session', { account_id: other.accountId });
      assert.equal(switched.json.account.name, 'Switched');
      assert.equal((await admin.call('GET', '/v1/account')).json.id, other.accountId);
      const owner = await signIn(t, await makeUser(t, 'owner'));
      assert.equal((await owner.call('PATCH', '/v1/session', { account_id: other.accountId })).json.error.code, 'forbidden');
    });

    test('a user sets their own time zone and language; an unknown zone is refused naming the field; other users keep theirs', async () => {
      const viewer = await signIn(t, await makeUser(t, 'viewer'));
      const colleague = await signIn(t, await makeUser(t, 'owner'));
      const fresh = (await viewer.call('GET', '/v1/session')).json;
      assert.equal(fresh.user.time_zone, null);
      assert.equal(fresh.user.language, null);

      const set = await viewer.call('PATCH', '/v1/session', { user: { time_zone: 'Asia/Novosibirsk', language: 'ru' } });
      assert.equal(set.status, 200, JSON.stringify(set.json));
      assert.equal(set.json.user.time_zone, 'Asia/Novosibirsk');
      assert.equal(set.json.user.language, 'ru');
      assert.equal(set.json.account.id, t.accountId);
      const me = (await viewer.call('GET', '/v1/session')).json;
      assert.equal(me.user.time_zone, 'Asia/Novosibirsk');
      assert.equal(me.user.language, 'ru');
      assert.notEqual(me.account.time_zone, 'Asia/Novosibirsk', 'the account keeps its own zone');

      // the preference is the user's: a new session of theirs has it, the colleague's does not
      const again = (await (await signIn(t, fresh.user.email)).call('GET', '/v1/session')).json;
      assert.equal(again.user.time_zone, 'Asia/Novosibirsk');
      const theirs = (await colleague.call('GET', '/v1/session')).json;
      assert.equal(theirs.user.time_zone, null);
      assert.equal(theirs.user.language, null);

      const bad = await viewer.call('PATCH', '/v1/session', { user: { time_zone: 'Mars/Olympus_Mons' } });
      assert.equal(bad.status, 422);
      assert.equal(bad.json.error.code, 'invalid_setting');
      assert.deepEqual(bad.json.error.details.map((d: { field: string }) => d.field), ['user.time_zone']);
      assert.equal((await viewer.call('PATCH', '/v1/session', { user: { language: 'de' } })).status, 400);
      assert.equal((await viewer.call('GET', '/v1/session')).json.user.time_zone, 'Asia/Novosibirsk', 'a refused change changes nothing');

      // only the field given changes; null goes back to the account's zone
      const cleared = await viewer.call('PATCH', '/v1/session', { user: { time_zone: null } });
      assert.equal(cleared.json.user.time_zone, null);
      assert.equal(cleared.json.user.language, 'ru');
      // an API key has no user to change
      assert.equal((await keyCaller(t, t.apiKey).call('PATCH', '/v1/session', { user: { time_zone: 'UTC' } })).json.error.code, 'forbidden');
    });
  });
}

/**
 * Behind a reverse proxy (http.trust_proxy): the client's address and protocol come from the proxy's
 * X-Forwarded-For and X-Forwarded-Proto; without the setting, or from a peer not listed, those headers are
 * ignored. HTTP-layer behaviour, the same on both stores: SQLite only.
 */
describe('behind a reverse proxy', () => {
  let proxied: TestGateway;
  let direct: TestGateway;
  before(async () => {
    proxied = await startTestGateway('sqlite', { DEPESHA_TRUST_PROXY: '127.0.0.1' });
    direct = await startTestGateway('sqlite');
  });
  after(async () => {
    await proxied?.close();
    await direct?.close();
  });
  /** A sign-in as nginx passes it on: from the peer `via` (light-my-request's default 127.0.0.1), for the host sms.example.com. */
  const signInVia = (g: TestGateway, body: { email: string; password: string }, headers: Record<string, string>, via = '127.0.0.1') =>
    g.gateway.app.inject({ method: 'POST', url: '/v1/sessions', remoteAddress: via, headers: { host: 'sms.example.com', ...headers }, payload: body });
  const auditOf = async (g: TestGateway, email: string) =>
    ((await keyCaller(g, g.apiKey).call('GET', '/v1/audit-log?limit=1000')).json.data as { action: string; outcome: string; actor: { label: string }; ip: string }[]).filter((e) => e.action === 'session.sign_in' && e.actor.label === email);

  test('a sign-in forwarded as https gets a Secure cookie; the audit log and the session keep the client\'s address', async () => {
    const email = await makeUser(proxied, 'owner');
    const https = await signInVia(proxied, { email, password: PASSWORD }, { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.5' });
    assert.equal(https.statusCode, 201, https.body);
    const cookie = https.cookies.find((c) => c.name === 'depesha_session')!;
    assert.deepEqual([cookie.secure, cookie.httpOnly, cookie.sameSite], [true, true, 'Strict']);
    const plain = await signInVia(proxied, { email, password: PASSWORD }, { 'x-forwarded-for': '203.0.113.5' });
    assert.equal(plain.cookies.find((c) => c.name === 'depesha_session')!.secure, undefined, 'plain HTTP to the proxy: not Secure');
    assert.deepEqual((await auditOf(proxied, email)).map((e) => e.ip), ['203.0.113.5', '203.0.113.5']);
    const session = await proxied.gateway.database.db.selectFrom('sessions').select('ip').where('id', '=', https.json().id).executeTakeFirstOrThrow();
    assert.equal(session.ip, '203.0.113.5');
  });

  test('sign-in failures from two forwarded addresses are counted apart', async () => {
    const email = await makeUser(proxied, 'viewer');
    const wrong = (client: string) => signInVia(proxied, { email: `guess${Math.random()}@example.com`, password: 'x' }, { 'x-forwarded-for': client });
    for (let i = 0; i < 20; i++) assert.equal((await wrong('198.51.100.1')).json().error.code, 'invalid_credentials');
    assert.equal((await wrong('198.51.100.1')).json().error.code, 'sign_in_locked');
    assert.equal((await wrong('198.51.100.2')).json().error.code, 'invalid_credentials', 'another client behind the same proxy is not locked out');
    assert.equal((await signInVia(proxied, { email, password: PASSWORD }, { 'x-forwarded-for': '198.51.100.2' })).statusCode, 201);
    // A client's own X-Forwarded-For before the proxy's entry changes nothing: the last untrusted address counts.
    assert.equal((await wrong('10.9.9.9, 198.51.100.1')).json().error.code, 'sign_in_locked');
  });

  test('without the setting, or from a peer that is not a listed proxy, X-Forwarded-For and -Proto are ignored: a client cannot choose its address', async () => {
    for (const [g, via] of [[direct, '192.0.2.50'], [proxied, '192.0.2.60']] as const) {
      const email = await makeUser(g, 'viewer');
      const spoofed = (i: number) => signInVia(g, { email: `guess${Math.random()}@example.com`, password: 'x' }, { 'x-forwarded-for': `198.51.100.${100 + i}` }, via);
      for (let i = 0; i < 20; i++) assert.equal((await spoofed(i)).json().error.code, 'invalid_credentials');
      assert.equal((await spoofed(20)).json().error.code, 'sign_in_locked', 'every failure counted for the peer, whatever it claimed');
      const ok = await signInVia(g, { email, password: PASSWORD }, { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' });
      assert.equal(ok.statusCode, 201, ok.body);
      if (g === direct) {
        assert.equal(ok.cookies.find((c) => c.name === 'depesha_session')!.secure, undefined, 'not Secure: the request came over plain HTTP');
        assert.deepEqual((await auditOf(g, email)).map((e) => e.ip), ['127.0.0.1']);
      }
    }
  });

  test('the keyless compatibility allow-list (G3) is matched against the forwarded address, only from a trusted proxy', async () => {
    const balance = (g: TestGateway, client: string) =>
      g.gateway.app.inject({ method: 'POST', url: '/api/v1', headers: { 'content-type': 'application/json', 'x-forwarded-for': client }, payload: JSON.stringify({ balance: ['rub'], route: 'ds' }) });
    for (const g of [proxied, direct]) {
      const opened = await keyCaller(g, g.apiKey).call('POST', '/v1/compat/ip-ranges', { account_id: g.accountId, range: '198.51.100.0/24' });
      assert.equal(opened.status, 201, JSON.stringify(opened.json));
    }
    assert.equal((await balance(proxied, '198.51.100.7')).statusCode, 200);
    assert.equal((await balance(proxied, '203.0.113.7')).statusCode, 403, 'a client outside the range, through the proxy');
    assert.equal((await balance(direct, '198.51.100.7')).statusCode, 403, 'without the setting the header does not open the range');
  });
});

test('depesha user create makes an administrator who can sign in', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'depesha-user-cli-'));
  try {
    const config = loadConfig({ DEPESHA_DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s) };
    assert.equal(await runUser(['create', '--email', 'root@example.com', '--password', 'short', '--role', 'administrator'], config, io), 2);
    assert.match(err.join(''), /at least 10/);
    assert.equal(await runUser(['create', '--email', 'root@example.com', '--password', PASSWORD, '--role', 'administrator'], config, io), 0, err.join(''));
    assert.match(out.join(''), /usr_\w+ \(root@example.com, administrator\) created/);
    assert.equal(await runUser(['create', '--email', 'root@example.com', '--password', PASSWORD, '--role', 'administrator'], config, io), 1);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
