import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dialects, startTestGateway, type TestGateway } from './helpers.ts';

/**
 * Projects group keys and messages (S15): a key bound to a project gives its
 * messages the project's code and may not name another; once an account has
 * projects, a message's `project` names one of them; without projects it
 * stays free text.
 */
for (const dialect of await dialects()) {
  describe(`API keys of a project on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let shop: { id: string; code: string };
    let crm: { id: string; code: string };
    let shopKey: { id: string; key: string; project_id: string | null };
    const call = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown, key = t.apiKey) => {
      const res = await t.gateway.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      return { status: res.statusCode, body: res.body === '' ? null : res.json() };
    };

    before(async () => {
      t = await startTestGateway(dialect.name);
      shop = (await call('POST', '/v1/projects', { name: 'Shop', code: 'shop' })).body;
      crm = (await call('POST', '/v1/projects', { name: 'CRM', code: 'crm' })).body;
    });
    after(async () => t?.close());

    test('POST /v1/api-keys with project_id binds the key; an unknown project is refused; keys are listed by project', async () => {
      const made = await call('POST', '/v1/api-keys', { name: 'Shop site', project_id: shop.id });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal(made.body.project_id, shop.id);
      shopKey = made.body;
      const unbound = await call('POST', '/v1/api-keys', { name: 'Everything' });
      assert.equal(unbound.body.project_id, null);
      const unknown = await call('POST', '/v1/api-keys', { name: 'X', project_id: 'prj_nope' });
      assert.deepEqual([unknown.status, unknown.body.error.code, unknown.body.error.details[0].field], [422, 'unknown_project', 'project_id']);
      const other = await t.makeAccount('Other');
      const foreign = await call('POST', '/v1/api-keys', { name: 'X', project_id: shop.id }, other.apiKey);
      assert.deepEqual([foreign.status, foreign.body.error.code], [422, 'unknown_project'], 'another account\'s project');
      const listed = (await call('GET', `/v1/api-keys?project_id=${shop.id}`)).body.data;
      assert.deepEqual(listed.map((k: { id: string }) => k.id), [shopKey.id]);
      assert.deepEqual((await call('GET', `/v1/api-keys?project_id=${crm.id}`)).body.data, []);
      const all = (await call('GET', '/v1/api-keys')).body.data as { id: string; project_id: string | null }[];
      assert.equal(all.find((k) => k.id === unbound.body.id)!.project_id, null);
      assert.equal(all.find((k) => k.id === shopKey.id)!.project_id, shop.id);
    });

    test('a bound key\'s message takes its project\'s code; naming another project is project_not_allowed', async () => {
      const plain = await call('POST', '/v1/messages', { to: '+79161234567', text: 'Заказ готов' }, shopKey.key);
      assert.equal(plain.status, 202, JSON.stringify(plain.body));
      assert.equal(plain.body.project, 'shop');
      const same = await call('POST', '/v1/messages', { to: '+79161234567', text: 'Заказ готов', project: 'shop' }, shopKey.key);
      assert.deepEqual([same.status, same.body.project], [202, 'shop']);
      const another = await call('POST', '/v1/messages', { to: '+79161234567', text: 'x', project: 'crm' }, shopKey.key);
      assert.deepEqual([another.status, another.body.error.code, another.body.error.details], [403, 'project_not_allowed', [{ field: 'project', issue: 'must be "shop" or absent' }]]);
      assert.equal((await call('GET', '/v1/messages?project=crm')).body.data.length, 0, 'nothing stored');
      const bulk = await call('POST', '/v1/messages/bulk', { messages: [{ to: '+79161234567', text: 'a' }, { to: '+79161234568', text: 'b', project: 'crm' }] }, shopKey.key);
      assert.equal(bulk.status, 202, JSON.stringify(bulk.body));
      assert.deepEqual([bulk.body.accepted, bulk.body.errors.map((e: { index: number; code: string; details: { field: string }[] }) => [e.index, e.code, e.details[0]!.field])], [1, [[1, 'project_not_allowed', 'messages.1.project']]]);
      assert.equal((await call('GET', `/v1/messages/${bulk.body.messages[0].id}`)).body.project, 'shop');
      // The seed-001 API names no project: the key's is taken.
      const compat = await t.gateway.app.inject({ method: 'POST', url: '/api/v1', headers: { authorization: `Bearer ${shopKey.key}`, 'content-type': 'application/json' }, payload: JSON.stringify({ send: { text_male: 'Привет', users: [{ phone: '+79161234569' }] }, route: 'ds' }) });
      assert.equal(compat.statusCode, 200, compat.body);
      const status = await t.gateway.app.inject({ method: 'POST', url: '/api/v1', headers: { authorization: `Bearer ${shopKey.key}`, 'content-type': 'application/json' }, payload: JSON.stringify({ status: { key: compat.json()[0].send.key } }) });
      const id = status.json().message[0].send.status[0].id;
      assert.equal((await call('GET', `/v1/messages/${id}`)).body.project, 'shop');
    });

    test('a bound key makes only keys of its project; a recoded project is what its keys\' messages take', async () => {
      const unbound = await call('POST', '/v1/api-keys', { name: 'Escape' }, shopKey.key);
      assert.deepEqual([unbound.status, unbound.body.error.code], [403, 'project_not_allowed']);
      const elsewhere = await call('POST', '/v1/api-keys', { name: 'Escape', project_id: crm.id }, shopKey.key);
      assert.equal(elsewhere.body.error.code, 'project_not_allowed');
      const sibling = await call('POST', '/v1/api-keys', { name: 'Shop 2', project_id: shop.id }, shopKey.key);
      assert.equal(sibling.status, 201, JSON.stringify(sibling.body));
      assert.equal((await call('PATCH', `/v1/projects/${shop.id}`, { code: 'store' })).status, 200);
      const sent = await call('POST', '/v1/messages', { to: '+79161234567', text: 'После переименования' }, sibling.body.key);
      assert.equal(sent.body.project, 'store');
      assert.equal((await call('PATCH', `/v1/projects/${shop.id}`, { code: 'shop' })).status, 200);
    });

    test('once an account has projects a message names one of their codes or none; without projects project is free text', async () => {
      const unknown = await call('POST', '/v1/messages', { to: '+79161234567', text: 'x', project: 'vip' });
      assert.deepEqual([unknown.status, unknown.body.error.code, unknown.body.error.details[0].field], [422, 'unknown_project', 'project']);
      const known = await call('POST', '/v1/messages', { to: '+79161234567', text: 'x', project: 'crm' });
      assert.deepEqual([known.status, known.body.project], [202, 'crm']);
      assert.equal((await call('POST', '/v1/messages', { to: '+79161234567', text: 'x' })).body.project, null, 'an unbound key sends without a project');
      const bulk = await call('POST', '/v1/messages/bulk', { to: ['+79161234567', '+79161234568'], text: 'x', project: 'vip' });
      assert.deepEqual([bulk.status, bulk.body.error.code], [422, 'bulk_all_invalid']);
      assert.equal(bulk.body.error.details[0].field, 'project');
      const free = await t.makeAccount('No projects');
      const loose = await call('POST', '/v1/messages', { to: '+79161234567', text: 'x', project: 'vip' }, free.apiKey);
      assert.deepEqual([loose.status, loose.body.project], [202, 'vip']);
    });
  });
}
