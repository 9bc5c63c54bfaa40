/**
 * Platform modules (C2, docs/modules.md) through the HTTP API: the list,
 * switching by platform roles only (account roles read, or get 403), the
 * audit log; a channel switched off refuses messages, bulk items, cascade
 * steps and verifications on it at accept; each integration switched off
 * answers as documented (verifications and mailings 409 module_disabled, the
 * compatibility APIs in their seed's shape, the SMPP server's new binds
 * ESME_RBINDFAIL); the delivery thread's mailing runner and a second node on
 * the same database see a change.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { startGateway, type Gateway } from '../src/gateway.ts';
import { createLogger } from '../src/log.ts';
import { CommandStatus } from '../src/smpp/pdu.ts';
import { bindClient, SmppBindError } from '../src/smpp/session.ts';
import { MODULES_TTL_MS } from '../src/store/modules.ts';
import { UsersRepository, type UserRole } from '../src/store/users.ts';
import { dialects, startTestGateway, type TestGateway, until } from './helpers.ts';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
const PASSWORD = 'correct horse battery';

/** Resolves once `check` returns a value that is not undefined, looked at every 20 ms until the deadline. */
for (const { name, skip } of await dialects()) {
  describe(`platform modules (${name})`, { skip }, () => {
    let t: TestGateway;
    before(async () => {
      t = await startTestGateway(name, {}, { smpp: true });
    });
    after(() => t?.close());

    const call = async (method: Method, url: string, payload?: unknown, key = t.apiKey, app: Gateway['app'] = t.gateway.app) => {
      const res = await app.inject({ method, url, headers: { authorization: `Bearer ${key}` }, ...(payload === undefined ? {} : { payload: payload as object }) });
      return { status: res.statusCode, json: res.body === '' ? undefined : res.json() };
    };
    /** A signed-in user of the given role; its calls carry the session cookie and CSRF token. */
    const user = async (role: UserRole, accountId: string | null) => {
      const email = `${role}-${Math.random().toString(36).slice(2, 8)}@example.com`;
      await new UsersRepository(t.gateway.database.db).create({ email, password: PASSWORD, role, accountId });
      const res = await t.gateway.app.inject({ method: 'POST', url: '/v1/sessions', payload: { email, password: PASSWORD } });
      assert.equal(res.statusCode, 201, res.body);
      const cookie = res.cookies.find((c) => c.name === 'depesha_session')!.value;
      const csrf = res.json().csrf_token as string;
      return async (method: Method, url: string, payload?: unknown) => {
        const r = await t.gateway.app.inject({ method, url, cookies: { depesha_session: cookie }, headers: { 'x-csrf-token': csrf }, ...(payload === undefined ? {} : { payload: payload as object }) });
        return { status: r.statusCode, json: r.body === '' ? undefined : r.json() };
      };
    };
    const toggle = async (module: string, enabled: boolean) => {
      const r = await call('PATCH', `/v1/modules/${module}`, { enabled });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.enabled, enabled);
    };

    test('every channel and integration is listed, on, with a description; account roles read but cannot switch; platform staff can; the audit log records it', async () => {
      const list = await call('GET', '/v1/modules');
      assert.equal(list.status, 200);
      assert.deepEqual(list.json.data.map((m: { name: string }) => m.name), ['sms', 'telegram', 'whatsapp', 'viber', 'email', 'voice', 'compat_api_v1', 'compat_crm', 'smpp_server', 'verifications', 'mailings']);
      assert.ok(list.json.data.every((m: { enabled: boolean; description: string; updated_at: null }) => m.enabled && m.description.length > 20 && m.updated_at === null));
      const doc = (await t.gateway.app.inject({ method: 'GET', url: '/openapi.json' })).json();
      assert.ok(doc.paths['/v1/modules'].get && doc.paths['/v1/modules/{name}'].patch.requestBody, 'both in the OpenAPI document');

      const other = await t.makeAccount('Tenant');
      assert.equal((await call('GET', '/v1/modules', undefined, other.apiKey)).status, 200, 'an account key reads');
      const refused = await call('PATCH', '/v1/modules/voice', { enabled: false }, other.apiKey);
      assert.deepEqual([refused.status, refused.json.error.code], [403, 'forbidden']);
      for (const role of ['owner', 'manager'] as const) {
        const r = await (await user(role, t.accountId))('PATCH', '/v1/modules/voice', { enabled: false });
        assert.deepEqual([r.status, r.json.error.code], [403, 'forbidden'], role);
      }
      const viewer = await (await user('viewer', t.accountId))('PATCH', '/v1/modules/voice', { enabled: false });
      assert.equal(viewer.status, 403);
      assert.equal((await call('GET', '/v1/modules')).json.data.find((m: { name: string }) => m.name === 'voice').enabled, true, 'nothing was switched');

      const staff = await user('staff', null);
      const off = await staff('PATCH', '/v1/modules/voice', { enabled: false });
      assert.equal(off.status, 200, JSON.stringify(off.json));
      assert.deepEqual([off.json.name, off.json.kind, off.json.enabled], ['voice', 'channel', false]);
      assert.ok(off.json.updated_at);
      assert.equal((await staff('PATCH', '/v1/modules/voice', { enabled: true })).json.enabled, true);
      assert.equal((await call('PATCH', '/v1/modules/fax', { enabled: false })).status, 404);
      assert.equal((await call('PATCH', '/v1/modules/voice', { enabled: 'no' })).status, 400);

      const audit = (await call('GET', '/v1/audit-log?limit=100')).json.data as { action: string; target_id: string; outcome: string; details: { enabled?: boolean } | null; actor: { label: string } }[];
      const switched = audit.filter((e) => e.action === 'PATCH /v1/modules/:name' && e.target_id === 'voice');
      assert.deepEqual(switched.filter((e) => e.outcome === 'succeeded').map((e) => e.details?.enabled), [true, false], 'both switches, newest first');
      assert.ok(switched.some((e) => e.outcome === 'failed'), 'the refused attempts too');
    });

    test('a channel switched off refuses messages, bulk items, cascade steps and verifications on it; the others go on; on again, it accepts', async () => {
      await toggle('voice', false);
      await toggle('telegram', false);
      try {
        const one = await call('POST', '/v1/messages', { channel: 'voice', to: '+79161230001', text: 'call' });
        assert.deepEqual([one.status, one.json.error.code, one.json.error.details[0].field], [422, 'channel_disabled', 'channel']);
        assert.equal((await call('POST', '/v1/messages', { to: '+79161230002', text: 'sms still goes' })).status, 202);

        const bulk = await call('POST', '/v1/messages/bulk', { messages: [{ to: '+79161230003', text: 'a' }, { channel: 'voice', to: '+79161230004', text: 'b' }] });
        assert.equal(bulk.status, 202, JSON.stringify(bulk.json));
        assert.deepEqual([bulk.json.accepted, bulk.json.rejected], [1, 1]);
        assert.deepEqual([bulk.json.errors[0].index, bulk.json.errors[0].code, bulk.json.errors[0].details[0].field], [1, 'channel_disabled', 'messages.1.channel']);

        const cascade = await call('POST', '/v1/messages', { to: '+79161230005', text: 'c', cascade: [{ channel: 'sms', timeout_seconds: 30 }, { channel: 'voice' }] });
        assert.deepEqual([cascade.status, cascade.json.error.code, cascade.json.error.details[0].field], [422, 'channel_disabled', 'cascade.1.channel']);

        const verification = await call('POST', '/v1/verifications', { to: '+79161230006', channel: 'telegram' });
        assert.deepEqual([verification.status, verification.json.error.code, verification.json.error.details[0].field], [422, 'channel_disabled', 'channel']);
        assert.equal((await call('POST', '/v1/verifications', { to: '+79161230006', channel: 'sms' })).status, 201);
      } finally {
        await toggle('voice', true);
        await toggle('telegram', true);
      }
      assert.equal((await call('POST', '/v1/messages', { channel: 'voice', to: '+79161230001', text: 'call' })).status, 202);
    });

    test('verifications and mailings switched off answer 409 module_disabled to changes and still read', async () => {
      await toggle('verifications', false);
      await toggle('mailings', false);
      try {
        const v = await call('POST', '/v1/verifications', { to: '+79161230010' });
        assert.deepEqual([v.status, v.json.error.code], [409, 'module_disabled']);
        const m = await call('POST', '/v1/mailings', { project_id: 'prj_x', template_id: 'tpl_x', name: 'x', channels: ['sms'] });
        assert.deepEqual([m.status, m.json.error.code], [409, 'module_disabled'], 'before the body is looked at');
        assert.equal((await call('GET', '/v1/mailings')).status, 200, 'reading goes on');
        // What stops sending is never gated: pausing or cancelling a mailing is looked at (here: there is no such mailing).
        for (const verb of ['pause', 'cancel']) assert.deepEqual([verb, (await call('POST', `/v1/mailings/mlg_none/${verb}`)).json.error.code], [verb, 'not_found']);
        assert.equal((await call('POST', '/v1/mailings/mlg_none/resume')).json.error.code, 'module_disabled');
      } finally {
        await toggle('verifications', true);
        await toggle('mailings', true);
      }
      assert.equal((await call('POST', '/v1/verifications', { to: '+79161230010' })).status, 201);
    });

    test('the compatibility APIs switched off answer 403 in their seed\'s shape', async () => {
      const compat = async (url: string, payload: unknown) => {
        const res = await t.gateway.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
        return { status: res.statusCode, json: res.json() };
      };
      assert.equal((await compat('/api/v1', { balance: ['RUB'] })).status, 200);
      await toggle('compat_api_v1', false);
      await toggle('compat_crm', false);
      try {
        const v1 = await compat('/api/v1', { balance: ['RUB'] });
        assert.equal(v1.status, 403);
        assert.equal(v1.json.status, 'error');
        assert.match(v1.json.message[0].balance.message, /^Доступ запрещен: API \/api\/v1 отключено/);
        const crm = await compat('/project/create', { name: 'OCM', code: 'mod' });
        assert.deepEqual([crm.status, crm.json], [403, { code: 403, error: { message: 'Доступ запрещен', status: 403 } }]);
      } finally {
        await toggle('compat_api_v1', true);
        await toggle('compat_crm', true);
      }
      assert.equal((await compat('/project/create', { name: 'OCM', code: 'mod' })).status, 201);
    });

    test('the SMPP server switched off refuses new binds with ESME_RBINDFAIL; a bind already open stays', async () => {
      assert.equal((await call('POST', '/v1/smpp/credentials', { system_id: 'modshop', password: 'pass1234' })).status, 201);
      const bind = () => bindClient({ host: '127.0.0.1', port: t.gateway.smppPort!, systemId: 'modshop', password: 'pass1234', mode: 'transceiver', windowSize: 10 });
      const open = await bind();
      try {
        await toggle('smpp_server', false);
        try {
          await assert.rejects(bind(), (err: unknown) => err instanceof SmppBindError && err.commandStatus === CommandStatus.ESME_RBINDFAIL);
          const submitted = await open.request({ command: 'submit_sm', sourceAddr: 'Shop', sourceAddrTon: 5, destAddrTon: 1, destAddrNpi: 1, destinationAddr: '79161230020', shortMessage: Buffer.from('still bound') });
          assert.equal(submitted.status, CommandStatus.ESME_ROK, 'the open bind keeps working');
        } finally {
          await toggle('smpp_server', true);
        }
        const again = await bind();
        await again.close();
      } finally {
        await open.close();
      }
    });

    test('the delivery thread sees a switch at once: a mailing started right after sms is switched off sends nothing on it', async () => {
      const project = (await call('POST', '/v1/projects', { name: 'MOD', code: 'MOD' })).json;
      const csv = ['guid,first_name,phone,consent.sms', 'm1,Анна,+79161230031,1', 'm2,Пётр,+79161230032,1'].join('\n');
      const imported = await t.gateway.app.inject({ method: 'POST', url: `/v1/contacts/import?project_id=${project.id}`, headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'text/csv' }, payload: csv });
      assert.equal(imported.statusCode, 200, imported.body);
      const template = (await call('POST', '/v1/templates', { project_id: project.id, channel: 'sms', name: 't', text: 'Привет, {{first_name}}!' })).json;
      const made = await call('POST', '/v1/mailings', { project_id: project.id, template_id: template.id, name: 'no sms', channels: ['sms'], start_at: new Date().toISOString(), traffic_type: 'service' });
      assert.equal(made.status, 201, JSON.stringify(made.json));
      await toggle('sms', false);
      try {
        assert.equal((await call('POST', `/v1/mailings/${made.json.id}/schedule`)).status, 200);
        await until('the mailing finished', async () => ((await call('GET', `/v1/mailings/${made.json.id}`)).json.status === 'finished' ? true : undefined));
        const stats = (await call('GET', `/v1/mailings/${made.json.id}/stats`)).json;
        assert.deepEqual(stats.recipients, { accepted: 0, skipped: 2 });
        const reasons = (await call('GET', `/v1/mailings/${made.json.id}/recipients`)).json.data.map((r: { reason: string }) => r.reason);
        assert.deepEqual(reasons, ['channel_disabled', 'channel_disabled']);
      } finally {
        await toggle('sms', true);
      }
    });

    test('another node on the same database sees a switch within the cache time', async () => {
      const db = t.gateway.database.db;
      const schema = name === 'postgres' ? (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]!.s : undefined;
      // On PostgreSQL the second node has a data directory of its own (a node on another machine); SQLite's database is a file in it.
      const config = schema ? { ...t.config, dataDir: mkdtempSync(path.join(tmpdir(), 'depesha-node2-')), secretKey: readFileSync(path.join(t.config.dataDir, 'secret.key'), 'utf8').trim() } : t.config;
      const second = await startGateway(config, { log: createLogger('silent'), listen: false, print: () => {}, pollMs: 50, smpp: false, ...(schema ? { pgSchema: schema } : {}) });
      const voice = (app: Gateway['app']) => call('POST', '/v1/messages', { channel: 'voice', to: '+79161230040', text: 'call' }, t.apiKey, app);
      try {
        assert.equal((await voice(second.app)).status, 202, 'the second node has read its switches: voice is on');
        const switchedAt = Date.now();
        await toggle('voice', false);
        assert.equal((await voice(t.gateway.app)).status, 422, 'on the node that took it, at once');
        await until('the second node refuses voice', async () => ((await voice(second.app)).status === 422 ? true : undefined), 10_000);
        assert.ok(Date.now() - switchedAt <= MODULES_TTL_MS + 1000, `within the cache time (${Date.now() - switchedAt} ms)`);
        await toggle('voice', true);
        await until('the second node accepts voice again', async () => ((await voice(second.app)).status === 202 ? true : undefined), 10_000);
      } finally {
        await second.close();
        if (config !== t.config) rmSync(config.dataDir, { recursive: true, force: true });
      }
    });
  });
}
