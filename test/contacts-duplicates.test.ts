/**
 * GET /v1/contacts/duplicates: the groups of a project's contacts that share
 * a phone or an e-mail (as stored: E.164, lower case), newest first, paged by
 * cursor, scoped to the account and the project; merging a group with
 * POST /v1/contacts/{id}/merge makes it disappear.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { apiCaller, dialects, startTestGateway, type TestGateway } from './helpers.ts';

interface Group {
  object: string;
  field: string;
  value: string;
  contact_ids: string[];
}

for (const dialect of await dialects()) {
  describe(`duplicate contacts on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let other: { accountId: string; apiKey: string };
    let call: ReturnType<typeof apiCaller>;
    const contact = async (projectId: string, fields: Record<string, unknown>, key = t.apiKey) => {
      const res = await call('POST', '/v1/contacts', { project_id: projectId, ...fields }, key);
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.id as string;
    };
    /** Every group, page by page (limit per page). */
    const walk = async (projectId: string, limit: number) => {
      const groups: Group[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await call('GET', `/v1/contacts/duplicates?project_id=${projectId}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.ok(res.body.data.length <= limit);
        groups.push(...res.body.data);
        cursor = res.body.next_cursor;
        pages++;
      } while (cursor !== null && pages < 20);
      return groups;
    };

    before(async () => {
      t = await startTestGateway(dialect.name);
      call = apiCaller(t);
      other = await t.makeAccount('Other');
    });
    after(async () => t?.close());

    test('groups by a shared phone or e-mail, newest first, the same through every page size; other projects and accounts are not mixed in; a merged group is gone', async () => {
      const p = (await call('POST', '/v1/projects', { name: 'Dups', code: 'dups' })).body.id as string;
      const q = (await call('POST', '/v1/projects', { name: 'Other project', code: 'other' })).body.id as string;
      const c1 = await contact(p, { first_name: 'Анна', phones: ['+79160001001'], emails: ['x@example.com'] });
      const c2 = await contact(p, { phones: ['8 916 000-10-01'], emails: ['y@example.com'] });
      const c3 = await contact(p, { emails: ['X@Example.com'], phones: ['+79160001003'] });
      await contact(p, { phones: ['+79160001004'] });
      const c5 = await contact(p, { phones: ['+79160001005', '+79160001001'], blocked: true });
      const c6 = await contact(p, { phones: ['+79160001006'] });
      const c7 = await contact(p, { phones: ['+79160001006'] });
      // Both share a phone and an e-mail: two groups with the same newest contact.
      const c8 = await contact(p, { phones: ['+79160001008'], emails: ['z@example.com'] });
      const c9 = await contact(p, { phones: ['+79160001008'], emails: ['z@example.com'] });
      // The same phone in another project and another account: no duplicate of these.
      await contact(q, { phones: ['+79160001004'] });
      await contact(q, { phones: ['+79160001001'] });
      const theirProject = (await call('POST', '/v1/projects', { name: 'Theirs', code: 'dups' }, other.apiKey)).body.id as string;
      await contact(theirProject, { phones: ['+79160001004'] }, other.apiKey);

      const expected = [
        { field: 'phone', value: '+79160001001', ids: [c1, c2, c5] },
        { field: 'email', value: 'x@example.com', ids: [c1, c3] },
        { field: 'phone', value: '+79160001006', ids: [c6, c7] },
        { field: 'email', value: 'z@example.com', ids: [c8, c9] },
        { field: 'phone', value: '+79160001008', ids: [c8, c9] },
      ]
        .map((g) => ({ ...g, newest: [...g.ids].sort().at(-1)! }))
        .sort((a, b) => (a.newest !== b.newest ? (a.newest < b.newest ? 1 : -1) : a.field !== b.field ? (a.field < b.field ? -1 : 1) : a.value < b.value ? -1 : 1))
        .map((g) => ({ object: 'contact_duplicate', field: g.field, value: g.value, contact_ids: [...g.ids].sort() }));
      assert.deepEqual(expected.slice(0, 2).map((g) => g.value), ['z@example.com', '+79160001008'], 'the two groups of c9 first, e-mail before phone');
      for (const limit of [50, 2, 1]) assert.deepEqual(await walk(p, limit), expected, `limit ${limit}`);
      const first = await call('GET', `/v1/contacts/duplicates?project_id=${p}&limit=5`);
      assert.equal(first.body.next_cursor, null, 'five groups fit a page of five');
      assert.deepEqual(await walk(q, 50), [], 'the other project has no duplicates of its own');

      // Merge one group with the existing endpoint: that group and the e-mail group c1 shared with c3 go.
      const merged = await call('POST', `/v1/contacts/${c1}/merge`, { contact_ids: [c2, c5, c3] });
      assert.equal(merged.status, 200, JSON.stringify(merged.body));
      assert.deepEqual((await walk(p, 50)).map((g) => g.value), ['z@example.com', '+79160001008', '+79160001006']);
    });

    test('tenancy and errors: another account\'s project is unknown_project, a cursor not given out is invalid_cursor, project_id is required; in OpenAPI', async () => {
      const p = (await call('POST', '/v1/projects', { name: 'Mine', code: 'mine' })).body.id as string;
      const theirs = await call('GET', `/v1/contacts/duplicates?project_id=${p}`, undefined, other.apiKey);
      assert.deepEqual([theirs.status, theirs.body.error.code], [422, 'unknown_project']);
      const bad = await call('GET', `/v1/contacts/duplicates?project_id=${p}&cursor=${Buffer.from(JSON.stringify({ k: { n: 'cnt_x', f: 'phone', v: '1' } })).toString('base64url')}`);
      assert.deepEqual([bad.status, bad.body.error.code], [400, 'invalid_cursor']);
      assert.deepEqual([(await call('GET', `/v1/contacts/duplicates?project_id=${p}&cursor=nope`)).body.error.code, (await call('GET', '/v1/contacts/duplicates')).body.error.code], ['invalid_cursor', 'validation_failed']);
      const doc = (await t.gateway.app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, { get?: { responses: Record<string, { content: Record<string, { schema: { properties: { data: { items: { properties: Record<string, unknown> } } } } }> }> } }> };
      const op = doc.paths['/v1/contacts/duplicates']?.get;
      assert.ok(op, 'GET /v1/contacts/duplicates is in the OpenAPI document');
      assert.deepEqual(Object.keys(op.responses['200']!.content['application/json']!.schema.properties.data.items.properties), ['object', 'field', 'value', 'contact_ids']);
    });
  });
}
