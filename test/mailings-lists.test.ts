/**
 * A contact list as a mailing's audience, through the whole gateway: the
 * runner sends to the list's members only (the member filter of
 * `store/segments.ts` audiencePage), not to the project's other contacts,
 * and a member removed before the run gets nothing. SMS by the sandbox.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { apiCaller, dialects, startTestGateway, type TestGateway, until } from './helpers.ts';

for (const dialect of await dialects()) {
  describe(`a mailing to a contact list on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let call: ReturnType<typeof apiCaller>;

    before(async () => {
      t = await startTestGateway(dialect.name);
      call = apiCaller(t);
    });
    after(async () => t?.close());

    test('the list\'s members get the message, the project\'s other contacts and a removed member do not', async () => {
      const p = (await call('POST', '/v1/projects', { name: 'Lists', code: 'LISTS' })).body;
      const csv = ['guid,first_name,phone', 'm1,Анна,+79161232001', 'm2,Борис,+79161232002', 'out1,Вера,+79161232003', 'out2,Глеб,+79161232004', 'gone,Дина,+79161232005', 'm3,Егор,+79161232006'];
      const imported = await t.gateway.app.inject({ method: 'POST', url: `/v1/contacts/import?project_id=${p.id}`, headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'text/csv' }, payload: csv.join('\n') });
      assert.equal(imported.statusCode, 200, imported.body);
      const ids = new Map(((await call('GET', `/v1/contacts?project_id=${p.id}&limit=100`)).body.data as { id: string; guid: string }[]).map((c) => [c.guid, c.id]));
      const list = (await call('POST', '/v1/contact-lists', { project_id: p.id, name: 'VIP' })).body;
      const added = await call('POST', `/v1/contact-lists/${list.id}/members`, { contact_ids: ['m1', 'm2', 'gone', 'm3'].map((g) => ids.get(g)!) });
      assert.deepEqual([added.status, added.body.list.size], [200, 4], JSON.stringify(added.body));
      assert.equal((await call('DELETE', `/v1/contact-lists/${list.id}/members/${ids.get('gone')}`)).status, 204);
      // A second list of the same project: its member is no recipient of this mailing.
      const otherList = (await call('POST', '/v1/contact-lists', { project_id: p.id, name: 'Other' })).body;
      assert.equal((await call('POST', `/v1/contact-lists/${otherList.id}/members`, { contact_ids: [ids.get('out1')] })).status, 200);

      const tpl = (await call('POST', '/v1/templates', { project_id: p.id, channel: 'sms', name: 't', text: 'Привет, {{first_name}}!' })).body;
      const created = await call('POST', '/v1/mailings', { project_id: p.id, template_id: tpl.id, list_id: list.id, name: 'VIP', channels: ['sms'], start_at: new Date().toISOString(), traffic_type: 'service' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.id as string;
      assert.equal((await call('POST', `/v1/mailings/${id}/schedule`)).status, 200);
      await until(`mailing ${id} finished`, async () => ((await call('GET', `/v1/mailings/${id}`)).body.status === 'finished' ? true : undefined), 30_000);

      const recipients = (await call('GET', `/v1/mailings/${id}/recipients?limit=100`)).body.data as { contact_id: string; status: string }[];
      assert.deepEqual(recipients.map((r) => [r.contact_id, r.status]).sort(), ['m1', 'm2', 'm3'].map((g) => [ids.get(g)!, 'accepted']).sort());
      const messages = await t.gateway.database.db.selectFrom('messages').select(['recipient', 'body']).where('mailing_id', '=', id).execute();
      assert.deepEqual(messages.map((m) => [m.recipient, m.body]).sort(), [
        ['+79161232001', 'Привет, Анна!'],
        ['+79161232002', 'Привет, Борис!'],
        ['+79161232006', 'Привет, Егор!'],
      ]);
      const stats = (await call('GET', `/v1/mailings/${id}/stats`)).body;
      assert.deepEqual(stats.recipients, { accepted: 3, skipped: 0 });
      assert.deepEqual([stats.audience, stats.remaining], [3, 0], 'the list\'s members, not the project\'s 6');
    });
  });
}
