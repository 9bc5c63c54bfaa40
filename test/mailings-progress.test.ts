/**
 * A mailing's progress through the HTTP API: `audience` and `remaining` in
 * `GET /v1/mailings/{id}/stats` (a list's audience counted when its run
 * starts, a segment's known only at its run's end), and the same figures
 * pushed as `mailing.progress` events on the live stream to the streams of
 * the account that name the type, and to no other. On SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { apiCaller, dialects, startTestGateway, type TestGateway, until } from './helpers.ts';
import { openStream } from './events-client.ts';
import type { MailingStats } from '../src/store/mailings.ts';

const phone = (i: number) => `+7916${String(30_000_000 + i).slice(1)}`;

/** GET /v1/mailings/{id}/stats: the store's figures with the mailing they are of */
type Stats = MailingStats & { object: string; mailing_id: string; status: string };

for (const dialect of await dialects()) {
  describe(`mailing progress on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let base: string;
    let call: ReturnType<typeof apiCaller>;
    let other: { accountId: string; apiKey: string };
    let project: { id: string };
    let template: { id: string };
    /** contact ids by guid */
    let ids: Map<string, string>;
    const stats = async (id: string) => (await call('GET', `/v1/mailings/${id}/stats`)).body as Stats;
    const waitStatus = (id: string, status: string) => until(`mailing ${id} ${status}`, async () => ((await call('GET', `/v1/mailings/${id}`)).body.status === status ? true : undefined), 30_000);
    const waitRecipients = (id: string, n: number) => until(`mailing ${id}: ${n} recipients`, async () => {
      const s = await stats(id);
      return s.recipients.accepted + s.recipients.skipped >= n ? s : undefined;
    });
    const newMailing = async (body: Record<string, unknown>) => {
      const created = await call('POST', '/v1/mailings', { project_id: project.id, template_id: template.id, name: 'progress', channels: ['sms'], start_at: new Date().toISOString(), traffic_type: 'service', ...body });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return created.body.id as string;
    };

    before(async () => {
      t = await startTestGateway(dialect.name);
      base = await t.gateway.app.listen({ port: 0, host: '127.0.0.1' });
      call = apiCaller(t);
      other = await t.makeAccount('Other');
      project = (await call('POST', '/v1/projects', { name: 'Progress', code: 'PRG' })).body;
      // 20 contacts; every other one lives in Тверь (the segment), the first 12 are the list's.
      const rows = Array.from({ length: 20 }, (_, i) => `p${i},Имя${i},${phone(i)},${i % 2 === 0 ? 'Тверь' : 'Псков'}`);
      const imported = await t.gateway.app.inject({ method: 'POST', url: `/v1/contacts/import?project_id=${project.id}`, headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'text/csv' }, payload: ['guid,first_name,phone,city', ...rows].join('\n') });
      assert.equal(imported.statusCode, 200, imported.body);
      ids = new Map(((await call('GET', `/v1/contacts?project_id=${project.id}&limit=100`)).body.data as { id: string; guid: string }[]).map((c) => [c.guid, c.id]));
      assert.equal(ids.size, 20);
      template = (await call('POST', '/v1/templates', { project_id: project.id, channel: 'sms', name: 't', text: 'Привет, {{first_name}}!' })).body;
    });
    after(async () => t?.close());

    test('stats: a list\'s audience is counted when its run starts and remaining counts down; a segment\'s is null until its run ends', async () => {
      const draft = await newMailing({});
      assert.deepEqual(await stats(draft), { ...(await stats(draft)), run_number: 0, audience: null, remaining: null });
      await call('POST', `/v1/mailings/${draft}/cancel`);

      const list = (await call('POST', '/v1/contact-lists', { project_id: project.id, name: 'first 12' })).body;
      const members = Array.from({ length: 12 }, (_, i) => ids.get(`p${i}`)!);
      assert.equal((await call('POST', `/v1/contact-lists/${list.id}/members`, { contact_ids: members })).status, 200);
      // 5 a second: the first few go at once, the rest over two seconds; paused on the way, the figures hold still.
      const listed = await newMailing({ list_id: list.id, throttle_per_second: 5 });
      await call('POST', `/v1/mailings/${listed}/schedule`);
      await waitRecipients(listed, 1);
      assert.equal((await call('POST', `/v1/mailings/${listed}/pause`)).body.status, 'paused');
      const mid = await stats(listed);
      const through = mid.recipients.accepted + mid.recipients.skipped;
      assert.ok(through < 12, `paused before the end: ${through}`);
      assert.deepEqual([mid.audience, mid.remaining], [12, 12 - through], 'the list\'s 12, not the project\'s 20');
      await call('POST', `/v1/mailings/${listed}/resume`);
      await waitStatus(listed, 'finished');
      const end = await stats(listed);
      assert.deepEqual([end.audience, end.remaining, end.recipients], [12, 0, { accepted: 12, skipped: 0 }]);

      const segment = (await call('POST', '/v1/segments', { project_id: project.id, name: 'Тверь', filter: { conditions: [{ field: 'attributes.city', op: 'eq', value: 'Тверь' }] } })).body;
      const segmented = await newMailing({ segment_id: segment.id, throttle_per_second: 2 });
      await call('POST', `/v1/mailings/${segmented}/schedule`);
      await waitRecipients(segmented, 1);
      assert.equal((await call('POST', `/v1/mailings/${segmented}/pause`)).body.status, 'paused');
      const segMid = await stats(segmented);
      assert.ok(segMid.recipients.accepted < 10, `paused before the end: ${segMid.recipients.accepted}`);
      assert.deepEqual([segMid.audience, segMid.remaining], [null, null], 'a segment\'s size is not counted up front');
      await call('POST', `/v1/mailings/${segmented}/resume`);
      await waitStatus(segmented, 'finished');
      const segEnd = await stats(segmented);
      assert.deepEqual([segEnd.audience, segEnd.remaining, segEnd.recipients.accepted], [10, 0, 10], 'known at the run\'s end: the 10 in Тверь');
      assert.equal((await call('GET', `/v1/mailings/${segmented}/stats`, undefined, other.apiKey)).status, 404);
    });

    test('the live stream: mailing.progress to the streams that name it, at most once a second, ending with the finished figures', async () => {
      const watching = await openStream(base, t.apiKey, { query: 'types=message.delivered,mailing.progress' });
      const plain = await openStream(base, t.apiKey);
      const stranger = await openStream(base, other.apiKey, { query: 'types=mailing.progress' });
      assert.deepEqual([watching.status, plain.status, stranger.status], [200, 200, 200]);
      // A stream of progress only, resuming after a stored event: nothing to replay, and it opens.
      const lastEvent = await t.gateway.database.db.selectFrom('message_events').select('id').where('account_id', '=', t.accountId).orderBy('id', 'desc').executeTakeFirstOrThrow();
      const resumed = await openStream(base, t.apiKey, { query: 'types=mailing.progress', lastEventId: lastEvent.id });
      assert.equal(resumed.status, 200);

      // 20 contacts at 5 a second: about three seconds running.
      const id = await newMailing({ throttle_per_second: 5 });
      const progressOf = (c: typeof watching) => c.events.filter((e) => e.event === 'mailing.progress').map((e) => JSON.parse(e.data) as { type: string; created_at: string; data: Stats }).filter((e) => e.data.mailing_id === id);
      await call('POST', `/v1/mailings/${id}/schedule`);
      await watching.until((c) => progressOf(c).some((e) => e.data.status === 'finished'), 'the finished figures', 30_000);
      await resumed.until((c) => progressOf(c).some((e) => e.data.status === 'finished'), 'the finished figures on the resumed stream', 30_000);

      const events = progressOf(watching);
      const last = events.at(-1)!;
      assert.equal(last.type, 'mailing.progress');
      assert.deepEqual([last.data.status, last.data.audience, last.data.remaining, last.data.recipients], ['finished', 20, 0, { accepted: 20, skipped: 0 }]);
      const running = events.filter((e) => e.data.status === 'running');
      assert.ok(running.length >= 1, `progress while running: ${JSON.stringify(events.map((e) => e.data.remaining))}`);
      assert.ok(running.every((e) => e.data.audience === 20 && e.data.remaining === 20 - e.data.recipients.accepted), JSON.stringify(running.map((e) => e.data)));
      assert.ok(running.some((e) => e.data.remaining! > 0), 'seen on the way');
      const through = events.map((e) => e.data.recipients.accepted);
      assert.deepEqual(through, [...through].sort((a, b) => a - b), 'recipients never go back');
      for (let i = 1; i < events.length; i++) {
        const gap = Date.parse(events[i]!.created_at) - Date.parse(events[i - 1]!.created_at);
        assert.ok(gap >= 950, `at most once a second per mailing: ${gap} ms`);
        assert.notDeepEqual(events[i]!.data, events[i - 1]!.data, 'only when the figures changed');
      }
      // The event's figures are the stats endpoint's.
      const now = await stats(id);
      assert.deepEqual({ ...last.data, messages: now.messages, errors: now.errors }, now);
      assert.ok(watching.events.filter((e) => e.event === 'mailing.progress').every((e) => e.id === undefined || e.id === ''), 'progress has no event id: Last-Event-ID stays a status change\'s');
      assert.ok(watching.events.some((e) => e.event === 'message.delivered'), 'the named message type still comes');
      assert.ok(watching.events.every((e) => e.event === 'message.delivered' || e.event === 'mailing.progress'), 'and no other');
      assert.ok(!resumed.events.some((e) => e.event?.startsWith('message.')), 'a progress-only stream carries no status change');

      // A stream that did not name the type gets status changes as before; another account's stream gets nothing of it.
      await plain.until((c) => c.events.some((e) => e.event === 'message.delivered'), 'status changes on the plain stream');
      assert.ok(!plain.events.some((e) => e.event === 'mailing.progress'));
      assert.deepEqual(stranger.events, []);
      for (const c of [watching, plain, stranger, resumed]) c.close();
    });

    test('the stream refuses an unknown type; the OpenAPI document names audience, remaining and mailing.progress', async () => {
      const res = await t.gateway.app.inject({ method: 'GET', url: '/v1/events/stream?types=mailing.finished', headers: { authorization: `Bearer ${t.apiKey}` } });
      assert.equal(res.statusCode, 400);
      const doc = (await t.gateway.app.inject({ method: 'GET', url: '/openapi.json' })).json();
      const body = doc.paths['/v1/mailings/{id}/stats'].get.responses['200'].content['application/json'];
      assert.ok(body.schema.required.includes('audience') && body.schema.required.includes('remaining'), JSON.stringify(body.schema.required));
      assert.deepEqual([body.example.audience, body.example.remaining], [5000, 3797]);
      const types = doc.paths['/v1/events/stream'].get.parameters.find((p: { name: string }) => p.name === 'types');
      assert.match('message.delivered,mailing.progress', new RegExp(types.schema.pattern));
    });
  });
}
