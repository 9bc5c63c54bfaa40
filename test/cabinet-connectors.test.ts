import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { UsersRepository } from '../src/store/users.ts';
import { dialects, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';

/**
 * What the cabinet's Connectors and routes page needs from the API: the
 * connector types with their definition schemas (the HTTP aggregator's nested
 * manifest included), a connector's stored definition without its secrets,
 * changing it (secrets left out are kept), and switching routes off and on,
 * which routing honours and the audit log records.
 */
for (const { name, skip } of await dialects()) {
  describe(`connectors and routes for the cabinet (${name})`, { skip }, () => {
    let t: TestGateway;
    before(async () => {
      t = await startTestGateway(name, {}, { configFile: { routes: [{ connector: 'sandbox' }] } });
    });
    after(() => t?.close());

    const call = async (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: object, key = t.apiKey) => {
      const res = await t.gateway.app.inject({ method, url, headers: { authorization: `Bearer ${key}` }, ...(payload ? { payload } : {}) });
      return { status: res.statusCode, json: res.body === '' ? undefined : res.json() };
    };
    const send = async (to: string) => {
      const r = await call('POST', '/v1/messages', { to, text: 'routes' });
      assert.equal(r.status, 202, JSON.stringify(r.json));
      return r.json.id as string;
    };
    /** Waits for the status; says where the message is when it does not come. */
    const reaches = async (id: string, status: string) => {
      try {
        await waitForStatus(t.gateway, id, [status]);
      } catch (err) {
        assert.fail(`${(err as Error).message}: ${JSON.stringify((await call('GET', `/v1/messages/${id}`)).json)}`);
      }
    };
    const connectorOf = async (id: string) => (await call('GET', `/v1/messages/${id}`)).json.connector as string | null;

    test('each type has its definition schema; the HTTP one is nested and names its presets with the secrets they need', async () => {
      const types = (await call('GET', '/v1/connector-types')).json.data as { type: string; schema: { properties: Record<string, { properties?: Record<string, unknown>; enum?: string[] }> }; presets?: { id: string; fields: { name: string }[] }[] }[];
      const http = types.find((m) => m.type === 'http')!;
      assert.ok(http.schema.properties.send!.properties!.url, 'send is an object schema with its own fields');
      assert.ok(http.schema.properties.callback, 'and the callback, poll, error-code sections');
      assert.deepEqual(http.schema.properties.preset!.enum!.sort(), ['devino', 'smsaero', 'smsaero_viber', 'smsc_ru', 'smstraffic']);
      assert.deepEqual(http.presets!.find((p) => p.id === 'smsc_ru')!.fields.map((f) => f.name), ['login', 'password']);
      const smpp = types.find((m) => m.type === 'smpp')!;
      assert.equal(smpp.schema.properties.password_env, undefined, 'file-only fields are left out');
      assert.ok(smpp.schema.properties.source_alphanumeric!.properties!.ton);
    });

    test('a connector made through the API is read back without its secrets and changed; secrets left out are kept', async () => {
      const created = await call('POST', '/v1/connectors', { id: 'agg', type: 'http', preset: 'smsc_ru', receipts: 'poll', secrets: { login: 'me', password: 'hunter22' }, default_error: { reason: 'operator_rejected', permanent: true } });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      assert.equal(created.json.source, 'api');
      const read = await call('GET', '/v1/connectors/agg/definition');
      assert.equal(read.status, 200);
      assert.deepEqual(read.json.secrets_set.sort(), ['secrets.login', 'secrets.password']);
      assert.equal(JSON.stringify(read.json).includes('hunter22'), false, 'no secret in the answer');
      assert.equal(read.json.definition.secrets, undefined);
      assert.deepEqual(read.json.definition.default_error, { reason: 'operator_rejected', permanent: true });
      // Changed without secrets: they stay; the preset still finds both.
      const changed = await call('PUT', '/v1/connectors/agg', { ...read.json.definition, base_url: 'http://127.0.0.1:9/smsc', default_error: { reason: 'operator_unavailable', permanent: false } });
      assert.equal(changed.status, 200, JSON.stringify(changed.json));
      const after = await call('GET', '/v1/connectors/agg/definition');
      assert.equal(after.json.definition.base_url, 'http://127.0.0.1:9/smsc');
      assert.deepEqual(after.json.definition.default_error, { reason: 'operator_unavailable', permanent: false });
      assert.deepEqual(after.json.secrets_set.sort(), ['secrets.login', 'secrets.password']);
      // A new value for one secret replaces that one only.
      assert.equal((await call('PUT', '/v1/connectors/agg', { ...after.json.definition, secrets: { password: 'another1' } })).status, 200);
      const withSecrets = (await import('../src/store/connectors.ts')).ConnectorsRepository;
      const { SecretBox } = await import('../src/store/secrets.ts');
      const stored = (await new withSecrets(t.gateway.database.db, SecretBox.fromConfig(t.config.secretKey, t.config.dataDir)).list()).find((d) => d.id === 'agg')!;
      assert.deepEqual('secrets' in stored && stored.secrets, { login: 'me', password: 'another1' });
      // Refusals: another id or type, a config connector, an unknown one, bad fields.
      assert.equal((await call('PUT', '/v1/connectors/agg', { ...after.json.definition, id: 'other' })).json.error.code, 'validation_failed');
      assert.equal((await call('PUT', '/v1/connectors/agg', { id: 'agg', type: 'sandbox' })).json.error.code, 'validation_failed');
      assert.equal((await call('PUT', '/v1/connectors/sandbox', { id: 'sandbox', type: 'sandbox' })).json.error.code, 'connector_from_config');
      assert.equal((await call('GET', '/v1/connectors/sandbox/definition')).json.error.code, 'connector_from_config');
      assert.equal((await call('PUT', '/v1/connectors/ghost', { id: 'ghost', type: 'sandbox' })).status, 404);
      assert.equal((await call('PUT', '/v1/connectors/agg', { ...after.json.definition, preset: 'nope' })).json.error.code, 'validation_failed');
      // An account key may not.
      const other = await t.makeAccount('connectors-other');
      assert.equal((await call('PUT', '/v1/connectors/agg', after.json.definition, other.apiKey)).status, 403);
      assert.equal((await call('GET', '/v1/connectors/agg/definition', undefined, other.apiKey)).status, 403);
      assert.equal((await call('DELETE', '/v1/connectors/agg')).status, 204);
    });

    test('a sandbox changed through PUT is stored with its new definition and stays listed', async () => {
      assert.equal((await call('POST', '/v1/connectors', { id: 'sb', type: 'sandbox', receipt_delay_ms: 10 })).status, 201);
      const changed = await call('PUT', '/v1/connectors/sb', { id: 'sb', type: 'sandbox', name: 'Renamed', receipt_delay_ms: 20 });
      assert.equal(changed.status, 200, JSON.stringify(changed.json));
      assert.deepEqual((await call('GET', '/v1/connectors/sb/definition')).json.definition, { id: 'sb', type: 'sandbox', name: 'Renamed', receipt_delay_ms: 20 });
      assert.ok((await call('GET', '/v1/connectors')).json.data.some((c: { id: string }) => c.id === 'sb'));
      assert.equal((await call('DELETE', '/v1/connectors/sb')).status, 204);
    });

    test('a sandbox made through the API takes its own outcome table; a bad table is refused naming the field', async () => {
      const bad = await call('POST', '/v1/connectors', { id: 'picky', type: 'sandbox', outcomes: '9=lost' });
      assert.equal(bad.status, 400, JSON.stringify(bad.json));
      assert.equal(bad.json.error.code, 'validation_failed');
      assert.ok(bad.json.error.details.some((d: { field: string }) => d.field === 'outcomes'), JSON.stringify(bad.json.error.details));
      assert.equal((await call('POST', '/v1/connectors', { id: 'picky', type: 'sandbox', receipt_delay_ms: 10, outcomes: '9=undelivered' })).status, 201);
      const route = await call('POST', '/v1/routes', { connector: 'picky', prefixes: ['7998'] });
      assert.equal(route.status, 201, JSON.stringify(route.json));
      try {
        const failing = await send('+79980001119');
        const passing = await send('+79980001110');
        await reaches(failing, 'undelivered');
        await reaches(passing, 'delivered');
        assert.equal(await connectorOf(failing), 'picky');
      } finally {
        assert.equal((await call('DELETE', `/v1/routes/${route.json.id}`)).status, 204);
        assert.equal((await call('DELETE', '/v1/connectors/picky')).status, 204);
      }
    });

    test('a route switched off matches nothing: its messages take the next matching route; the switch is audited', async () => {
      for (const id of ['one', 'two']) assert.equal((await call('POST', '/v1/connectors', { id, type: 'sandbox', receipt_delay_ms: 10 })).status, 201);
      const specific = await call('POST', '/v1/routes', { failover: ['one', 'two'], prefixes: ['7999'] });
      assert.equal(specific.status, 201);
      const routeId = specific.json.id as string;
      assert.equal(specific.json.enabled, true);
      try {
        const first = await send('+79990001111');
        await reaches(first, 'delivered');
        assert.equal(await connectorOf(first), 'one');

        const off = await call('PATCH', `/v1/routes/${routeId}`, { enabled: false });
        assert.equal(off.status, 200, JSON.stringify(off.json));
        assert.equal(off.json.enabled, false);
        const listed = (await call('GET', '/v1/routes')).json.data as { id: string; enabled: boolean }[];
        assert.deepEqual(listed.map((r) => [r.id, r.enabled]), [['config-1', true], [routeId, false]]);
        const dry = (await call('POST', '/v1/routes/test', { to: '+79990002222' })).json;
        assert.equal(dry.route, 'config-1');
        assert.equal(dry.routes.find((r: { id: string }) => r.id === routeId).why, 'switched off');
        const second = await send('+79990002222');
        await reaches(second, 'delivered');
        assert.equal(await connectorOf(second), 'sandbox', 'the config route took it');

        // The config file's route can be switched off too: now nothing matches.
        assert.equal((await call('PATCH', '/v1/routes/config-1', { enabled: false })).status, 200);
        const none = await send('+79160003333');
        await reaches(none, 'failed');
        assert.equal((await call('GET', `/v1/messages/${none}`)).json.reason.code, 'no_route');
        assert.equal((await call('PATCH', '/v1/routes/config-1', { enabled: true })).status, 200);

        assert.equal((await call('PATCH', `/v1/routes/${routeId}`, { enabled: true })).status, 200);
        const third = await send('+79990003333');
        await reaches(third, 'delivered');
        assert.equal(await connectorOf(third), 'one');

        assert.equal((await call('PATCH', '/v1/routes/rte_nope', { enabled: false })).status, 404);
        assert.equal((await call('PATCH', `/v1/routes/${routeId}`, { enabled: 'no' })).status, 400);
        const other = await t.makeAccount('routes-other');
        assert.equal((await call('PATCH', `/v1/routes/${routeId}`, { enabled: false }, other.apiKey)).status, 403);

        const audit = (await call('GET', '/v1/audit-log?limit=100')).json.data as { action: string; target_id: string | null; outcome: string; details: { enabled?: boolean } | null }[];
        const switches = audit.filter((e) => e.action === 'PATCH /v1/routes/:id' && e.target_id === routeId && e.outcome === 'succeeded');
        assert.deepEqual(switches.map((e) => e.details?.enabled), [true, false], 'newest first: on, then the earlier off');
      } finally {
        assert.equal((await call('DELETE', `/v1/routes/${routeId}`)).status, 204);
      }
    });

    test('platform staff may change connectors and routes; account roles may not', async () => {
      const users = new UsersRepository(t.gateway.database.db);
      const signIn = async (role: 'staff' | 'manager') => {
        const email = `${role}-${Math.random().toString(36).slice(2, 8)}@example.com`;
        await users.create({ email, password: 'correct horse battery', role, accountId: role === 'staff' ? null : t.accountId });
        const res = await t.gateway.app.inject({ method: 'POST', url: '/v1/sessions', payload: { email, password: 'correct horse battery' } });
        const cookie = res.cookies.find((c) => c.name === 'depesha_session')!.value;
        const csrf = res.json().csrf_token as string;
        return (method: 'PATCH' | 'GET', url: string, payload?: object) => t.gateway.app.inject({ method, url, cookies: { depesha_session: cookie }, headers: { 'x-csrf-token': csrf }, ...(payload ? { payload } : {}) });
      };
      const staff = await signIn('staff');
      assert.equal((await staff('PATCH', '/v1/routes/config-1', { enabled: true })).statusCode, 200);
      const manager = await signIn('manager');
      const refused = await manager('PATCH', '/v1/routes/config-1', { enabled: false });
      assert.equal(refused.statusCode, 403);
      assert.equal(refused.json().error.code, 'forbidden');
      assert.equal((await manager('GET', '/v1/routes')).statusCode, 403);
    });
  });
}
