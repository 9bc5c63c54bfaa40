import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CommandStatus } from '../src/smpp/pdu.ts';
import { SmscSimulator } from '../src/smpp/simulator.ts';
import { parseSmppTime } from '../src/smpp/time.ts';
import { dialects, startTestGateway, until, waitForStatus, type TestGateway } from './helpers.ts';

/** The SMPP operator connector against the SMSC simulator, through the whole gateway. */
for (const dialect of await dialects()) {
  describe(`SMPP connector on ${dialect.name}`, { skip: dialect.skip }, () => {
    let sim: SmscSimulator;
    let t: TestGateway;
    const post = async (body: unknown, key = t.apiKey) => {
      const res = await t.gateway.app.inject({ method: 'POST', url: '/v1/messages', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      assert.equal(res.statusCode, 202, res.body);
      return res.json() as { id: string };
    };
    const get = async (url: string) => (await t.gateway.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${t.apiKey}` } })).json();

    before(async () => {
      // Hex ids in submit responses, decimal in receipts: a mix real SMSCs use.
      sim = new SmscSimulator({
        accounts: { depesha: 'secret1', apiop: 'secret2' },
        receiptDelayMs: 20,
        submitIdFormat: 'hex',
        receiptIdFormat: 'decimal',
        // …80: the SMSC refuses part 2 of a long text and takes the others; …81: it refuses every part.
        refuse: (to, part) => ((to === '79161234580' && part?.seq === 2) || to === '79161234581' ? CommandStatus.ESME_RSUBMITFAIL : undefined),
      });
      const port = await sim.start();
      t = await startTestGateway(dialect.name, {}, {
        configFile: {
          connectors: [
            { id: 'operator', type: 'smpp', host: '127.0.0.1', port, system_id: 'depesha', password: 'secret1', window: 20, receipt_id_format: 'submit-hex-receipt-decimal', reconnect_min_ms: 20, reconnect_max_ms: 200, inbound_parts_timeout_seconds: 1 },
            { id: 'wrongpass', type: 'smpp', host: '127.0.0.1', port, system_id: 'depesha', password: 'nope', reconnect_min_ms: 50, reconnect_max_ms: 200 },
          ],
          routes: [{ connector: 'operator' }],
        },
      });
      await waitFor(() => connector('operator')?.status === 'up', 'operator bound');
    });
    after(async () => {
      await t?.close();
      await sim?.stop();
    });

    async function connectors(): Promise<{ id: string; status: string; detail: string | null; links_up: number }[]> {
      return (await get('/v1/connectors')).data;
    }
    let latest: Awaited<ReturnType<typeof connectors>> = [];
    const connector = (id: string) => latest.find((c) => c.id === id);
    /** Polls the connector list (it is refreshed once a second by the delivery thread) until `check` holds. */
    async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        latest = await connectors();
        if (check()) return;
        if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms; connectors: ${JSON.stringify(latest)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }

    test('the message\'s validity goes to the SMSC as validity_period', async () => {
      const { id } = await post({ to: '+79161234570', text: 'valid for ten minutes', ttl_seconds: 600 });
      assert.equal(await waitForStatus(t.gateway, id, ['delivered', 'undelivered', 'failed', 'rejected', 'expired']), 'delivered');
      const message = await get(`/v1/messages/${id}`);
      const submit = sim.submits.find((s) => s.destinationAddr === '79161234570');
      assert.ok(submit);
      const parsed = parseSmppTime(submit.validityPeriod, Date.now());
      assert.ok(parsed.ok && parsed.at !== undefined, `validity_period ${JSON.stringify(submit.validityPeriod)} is a time`);
      // SMPP absolute times have a resolution of a tenth of a second.
      assert.ok(Math.abs(parsed.at - Date.parse(message.expires_at)) < 1000, `${submit.validityPeriod} is the message's expires_at ${message.expires_at}`);
    });

    test('a message goes out as submit_sm and its receipt (another id format) makes it delivered', async () => {
      const { id } = await post({ to: '+79161234567', text: 'Hello over SMPP', from: 'Shop' });
      assert.equal(await waitForStatus(t.gateway, id, ['delivered', 'undelivered', 'failed', 'rejected', 'expired']), 'delivered');
      const submit = sim.submits.find((s) => s.destinationAddr === '79161234567');
      assert.ok(submit);
      assert.equal(submit.sourceAddr, 'Shop');
      assert.equal(submit.body.toString('latin1'), 'Hello over SMPP');
      const message = await get(`/v1/messages/${id}`);
      assert.equal(message.parts.length, 1);
    });

    test('a long text goes as UDH parts and is delivered when every part is', async () => {
      const text = 'Long message. '.repeat(20); // 280 characters: 2 parts of GSM-7
      const { id } = await post({ to: '+79161234568', text });
      assert.equal(await waitForStatus(t.gateway, id, ['delivered', 'undelivered', 'failed', 'rejected']), 'delivered');
      const parts = sim.submits.filter((s) => s.destinationAddr === '79161234568');
      assert.equal(parts.length, 2);
      assert.deepEqual(parts.map((p) => p.concat?.seq).sort(), [1, 2]);
      assert.equal(parts[0]!.concat?.total, 2);
    });

    test('udh16: a long text goes as exactly the parts counted and charged at accept, the 8-bit UDH where full parts leave no room for the 16-bit one', async () => {
      const call = async (method: 'POST' | 'DELETE', url: string, body?: unknown) => {
        const res = await t.gateway.app.inject({ method, url, headers: { authorization: `Bearer ${t.apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { payload: JSON.stringify(body) } : {}) });
        return { status: res.statusCode, body: res.body ? res.json() : undefined };
      };
      const made = await call('POST', '/v1/connectors', { id: 'wide', type: 'smpp', host: '127.0.0.1', port: sim.port, system_id: 'apiop', password: 'secret2', long_messages: 'udh16', receipt_id_format: 'submit-hex-receipt-decimal', reconnect_min_ms: 20 });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const route = await call('POST', '/v1/routes', { connector: 'wide', prefixes: ['7916777'] });
      assert.equal(route.status, 201);
      try {
        await waitFor(() => connector('wide')?.status === 'up', 'wide bound');
        // 306 septets: 2 parts of 153 at accept; a 7-octet UDH would leave 152 and make 3 submits.
        const full = await post({ to: '+79167770001', text: 'a'.repeat(306) });
        // 152 + € + 100: parts of 152 and 102 septets, room for the 16-bit reference.
        const roomy = await post({ to: '+79167770002', text: `${'a'.repeat(152)}€${'b'.repeat(100)}` });
        for (const [m, to, iei] of [[full, '79167770001', 0x00], [roomy, '79167770002', 0x08]] as const) {
          assert.equal(await waitForStatus(t.gateway, m.id, ['delivered', 'undelivered', 'failed', 'rejected', 'expired']), 'delivered');
          const message = await get(`/v1/messages/${m.id}`);
          assert.equal(message.parts_count, 2);
          const submits = sim.submits.filter((s) => s.destinationAddr === to);
          assert.equal(submits.length, 2, `one submit per part counted: ${JSON.stringify(submits.map((s) => s.concat))}`);
          assert.deepEqual(submits.map((s) => [s.concat?.seq, s.concat?.total]).sort(), [[1, 2], [2, 2]]);
          assert.ok(submits.every((s) => s.body[1] === iei), `IEI ${iei}`);
          assert.deepEqual(message.parts.map((p: { status: string }) => p.status), ['delivered', 'delivered']);
        }
      } finally {
        assert.equal((await call('DELETE', `/v1/routes/${route.body.id}`)).status, 204);
        assert.equal((await call('DELETE', '/v1/connectors/wide')).status, 204);
      }
    });

    test('payload: a long text goes as one submit_sm with message_payload; its one id stands for every part counted, and its receipt delivers the message', async () => {
      const call = async (method: 'POST' | 'DELETE', url: string, body?: unknown) => {
        const res = await t.gateway.app.inject({ method, url, headers: { authorization: `Bearer ${t.apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { payload: JSON.stringify(body) } : {}) });
        return { status: res.statusCode, body: res.body ? res.json() : undefined };
      };
      const made = await call('POST', '/v1/connectors', { id: 'whole', type: 'smpp', host: '127.0.0.1', port: sim.port, system_id: 'apiop', password: 'secret2', long_messages: 'payload', receipt_id_format: 'submit-hex-receipt-decimal', reconnect_min_ms: 20 });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const route = await call('POST', '/v1/routes', { connector: 'whole', prefixes: ['7916779'] });
      assert.equal(route.status, 201);
      try {
        await waitFor(() => connector('whole')?.status === 'up', 'whole bound');
        const { id } = await post({ to: '+79167790001', text: 'Long message. '.repeat(30) });
        assert.equal(await waitForStatus(t.gateway, id, ['delivered', 'undelivered', 'failed', 'rejected', 'expired']), 'delivered');
        const submits = sim.submits.filter((s) => s.destinationAddr === '79167790001');
        assert.equal(submits.length, 1);
        const message = await get(`/v1/messages/${id}`);
        assert.equal(message.parts_count, 3);
        assert.deepEqual(message.parts.map((p: { status: string; provider_message_id: string }) => [p.status, p.provider_message_id]), [1, 2, 3].map(() => ['delivered', BigInt(`0x${submits[0]!.messageId}`).toString(10)]));
      } finally {
        assert.equal((await call('DELETE', `/v1/routes/${route.body.id}`)).status, 204);
        assert.equal((await call('DELETE', '/v1/connectors/whole')).status, 204);
      }
    });

    test('a submit whose answer does not come in time is sent again: the SMSC may get it twice (at least once), it is recorded once, the lost copy\'s receipt is unmatched', async () => {
      const call = async (method: 'POST' | 'DELETE', url: string, body?: unknown) => {
        const res = await t.gateway.app.inject({ method, url, headers: { authorization: `Bearer ${t.apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { payload: JSON.stringify(body) } : {}) });
        return { status: res.statusCode, body: res.body ? res.json() : undefined };
      };
      const made = await call('POST', '/v1/connectors', { id: 'hasty', type: 'smpp', host: '127.0.0.1', port: sim.port, system_id: 'apiop', password: 'secret2', response_timeout_ms: 150, receipt_id_format: 'submit-hex-receipt-decimal', reconnect_min_ms: 20 });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const route = await call('POST', '/v1/routes', { connector: 'hasty', prefixes: ['7916778'] });
      assert.equal(route.status, 201);
      try {
        await waitFor(() => connector('hasty')?.status === 'up', 'hasty bound');
        // 1. The SMSC takes the submit but answers after the connector stopped waiting (150 ms).
        sim.set({ submitDelayMs: 400 });
        const { id } = await post({ to: '+79167780001', text: 'answer lost' });
        await until('the timed-out submit waits for its retry', async () => {
          const m = await get(`/v1/messages/${id}`);
          return m.status === 'queued' && m.reason?.code === 'operator_unavailable' ? m : undefined;
        }, 10_000);
        sim.set({ submitDelayMs: 0 });
        // 2. The retry is answered: the message is delivered by the second copy.
        assert.equal(await waitForStatus(t.gateway, id, ['delivered', 'undelivered', 'failed', 'rejected', 'expired']), 'delivered');
        // Taken by the SMSC twice, or more if a retry also came before the delay was lifted (a slow machine).
        const submits = await until('the timed-out copy taken by the SMSC too', async () => {
          const list = sim.submits.filter((s) => s.destinationAddr === '79167780001');
          return list.length >= 2 ? list : undefined;
        }, 5_000);
        const message = await get(`/v1/messages/${id}`);
        assert.equal(message.parts.length, 1);
        const answered = submits.filter((s) => BigInt(`0x${s.messageId}`).toString(10) === message.parts[0].provider_message_id);
        assert.equal(answered.length, 1, 'the part is the one copy whose answer came');
        // 3. The other copies' receipts match no part we sent: kept as unmatched, changing nothing.
        await until('the lost copies\' receipts kept as unmatched', async () => {
          const kept = (await get('/v1/connectors/hasty/unmatched-receipts')).data as { provider_message_id: string }[] | undefined;
          return kept?.length === submits.length - 1 ? kept : undefined;
        }, 10_000);
        assert.equal((await get(`/v1/messages/${id}`)).status, 'delivered');
      } finally {
        sim.set({ submitDelayMs: 0 });
        assert.equal((await call('DELETE', `/v1/routes/${route.body.id}`)).status, 204);
        assert.equal((await call('DELETE', '/v1/connectors/hasty')).status, 204);
      }
    });

    test('a connector that cannot bind says why in GET /v1/connectors', async () => {
      await waitFor(() => connector('wrongpass')?.status === 'down', 'wrongpass down');
      assert.match(connector('wrongpass')!.detail ?? '', /bind refused: invalid password/);
      assert.equal(connector('operator')?.status, 'up');
    });

    test('a throttled submit is retried and delivered; a permanent error ends the message with the raw status', async () => {
      sim.set({ throttleRate: 1 });
      const throttled = await post({ to: '+79161234569', text: 'throttled first' });
      await waitFor(() => sim.stats.refused > 0, 'a refusal');
      sim.set({ throttleRate: 0 });
      assert.equal(await waitForStatus(t.gateway, throttled.id, ['delivered', 'failed', 'rejected']), 'delivered');
      const events = (await get(`/v1/messages/${throttled.id}`)).events as { status: string; reason: string | null; provider_code: string | null }[];
      assert.ok(events.some((e) => e.reason === 'operator_throttled' && e.provider_code === '0x00000058'), JSON.stringify(events));

      sim.set({ permanentErrorRate: 1 });
      const refused = await post({ to: '+79161234570', text: 'refused' });
      assert.equal(await waitForStatus(t.gateway, refused.id, ['delivered', 'failed', 'rejected']), 'rejected');
      sim.set({ permanentErrorRate: 0 });
      const message = await get(`/v1/messages/${refused.id}`);
      assert.equal(message.reason.code, 'operator_rejected');
      assert.equal(message.reason.provider_code, '0x00000045');
    });

    test('a long text the SMSC takes only in part: the parts taken are charged, the refused one refunded, the message rejected', async () => {
      const call = async (method: 'GET' | 'POST' | 'PUT', url: string, body: unknown, key: string) => {
        const res = await t.gateway.app.inject({ method, url, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });
        return { status: res.statusCode, body: res.json() };
      };
      const a = await t.makeAccount('Priced SMPP');
      assert.equal((await call('POST', '/v1/balance/entries', { account_id: a.accountId, kind: 'top_up', amount: '10.00' }, t.apiKey)).status, 201);
      assert.equal((await call('PUT', '/v1/prices', { account_id: a.accountId, channel: 'sms', price: '1.50' }, t.apiKey)).status, 200);
      const ledger = async () => ((await call('GET', '/v1/balance/entries', undefined, a.apiKey)).body.data as { kind: string; amount: string; balance_after: string; message_id: string | null; note: string | null }[]).reverse();

      const sent = await call('POST', '/v1/messages', { to: '+79161234580', text: 'Three parts. '.repeat(30) }, a.apiKey);
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      assert.equal(sent.body.parts_count, 3);
      const id = sent.body.id as string;
      assert.equal(await waitForStatus(t.gateway, id, ['delivered', 'undelivered', 'failed', 'rejected', 'expired']), 'rejected');
      // Parts 1 and 3 went out and get their receipts; part 2 was refused at submit and has no provider id.
      type Part = { index: number; status: string; provider_message_id: string | null; reason: string | null; provider_code: string | null };
      const message = await until('the receipts of the parts taken', async () => {
        const m = await call('GET', `/v1/messages/${id}`, undefined, a.apiKey);
        return (m.body.parts as Part[]).filter((p) => p.status === 'delivered').length === 2 ? m.body : undefined;
      }, 10_000);
      assert.deepEqual(
        (message.parts as Part[]).map((p) => [p.index, p.status, p.provider_message_id === null, p.reason, p.provider_code]),
        [
          [1, 'delivered', false, null, null],
          [2, 'rejected', true, 'operator_rejected', '0x00000045'],
          [3, 'delivered', false, null, null],
        ],
      );
      assert.equal(message.reason.code, 'operator_rejected');
      assert.equal(message.reason.provider_code, '0x00000045');
      assert.notEqual(message.sent_at, null);
      assert.deepEqual((message.events as { status: string }[]).map((e) => e.status), ['accepted', 'queued', 'sent', 'rejected']);
      assert.deepEqual(sim.submits.filter((s) => s.destinationAddr === '79161234580').map((s) => s.concat?.seq).sort(), [1, 3]);
      // Reserved for 3 parts; charged for the 2 the SMSC took; the refused part's share comes back.
      assert.deepEqual(
        (await ledger()).map((e) => [e.kind, e.amount, e.balance_after, e.message_id, e.note]),
        [
          ['top_up', '10.00', '10.00', null, null],
          ['reserve', '-4.50', '5.50', id, '3 parts × 1.50'],
          ['charge', '-3.00', '5.50', id, '2 parts × 1.50'],
          ['refund', '1.50', '7.00', id, '1 part × 1.50 refused by the provider'],
        ],
      );
      assert.equal((await call('GET', '/v1/balance', undefined, a.apiKey)).body.amount, '7.00');

      // Every part refused: nothing went out, the message is rejected unsent and its whole reserve comes back.
      const refused = await call('POST', '/v1/messages', { to: '+79161234581', text: 'Three parts. '.repeat(30) }, a.apiKey);
      assert.equal(refused.status, 202, JSON.stringify(refused.body));
      assert.equal(await waitForStatus(t.gateway, refused.body.id, ['delivered', 'undelivered', 'failed', 'rejected', 'expired']), 'rejected');
      const none = (await call('GET', `/v1/messages/${refused.body.id}`, undefined, a.apiKey)).body;
      assert.equal(none.sent_at, null);
      assert.deepEqual((none.parts as Part[]).map((p) => p.status), ['pending', 'pending', 'pending']);
      assert.deepEqual(
        (await ledger()).filter((e) => e.message_id === refused.body.id).map((e) => [e.kind, e.amount, e.balance_after]),
        [
          ['reserve', '-4.50', '2.50'],
          ['refund', '4.50', '7.00'],
        ],
      );
    });

    test('an undelivered receipt ends the message as undelivered with the operator code', async () => {
      sim.set({ undeliveredRate: 1 });
      const { id } = await post({ to: '+79161234571', text: 'nobody home' });
      assert.equal(await waitForStatus(t.gateway, id, ['delivered', 'undelivered']), 'undelivered');
      sim.set({ undeliveredRate: 0 });
      const message = await get(`/v1/messages/${id}`);
      assert.equal(message.reason.code, 'subscriber_unknown');
      assert.match(message.reason.provider_code, /stat:UNDELIV err:001/);
    });

    test('after the SMSC drops the connection the connector binds again and sending goes on', async () => {
      const bindsBefore = sim.stats.binds;
      sim.dropConnections();
      await waitFor(() => sim.stats.binds > bindsBefore && connector('operator')?.status === 'up', 'rebound');
      const { id } = await post({ to: '+79161234572', text: 'after reconnect' });
      assert.equal(await waitForStatus(t.gateway, id, ['delivered', 'failed']), 'delivered');
    });

    test('a connector and a route made through the API carry traffic; the password is stored sealed; removal is guarded', async () => {
      const call = async (method: 'POST' | 'DELETE', url: string, body?: unknown) => {
        const res = await t.gateway.app.inject({ method, url, headers: { authorization: `Bearer ${t.apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { payload: JSON.stringify(body) } : {}) });
        return { status: res.statusCode, body: res.body ? res.json() : undefined };
      };
      const made = await call('POST', '/v1/connectors', { id: 'apiop', type: 'smpp', host: '127.0.0.1', port: sim.port, system_id: 'apiop', password: 'secret2', receipt_id_format: 'submit-hex-receipt-decimal', reconnect_min_ms: 20 });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal((await call('POST', '/v1/connectors', { id: 'operator', type: 'sandbox' })).body.error.code, 'connector_exists');
      assert.equal((await call('POST', '/v1/routes', { connector: 'nowhere' })).body.error.code, 'unknown_connector');
      const stored = await t.gateway.database.db.selectFrom('connectors').select('definition').where('id', '=', 'apiop').executeTakeFirstOrThrow();
      assert.ok(!stored.definition.includes('secret2'), stored.definition);
      const route = await call('POST', '/v1/routes', { connector: 'apiop', prefixes: ['7999'] });
      assert.equal(route.status, 201);
      await waitFor(() => connector('apiop')?.status === 'up', 'apiop bound');

      const { id } = await post({ to: '+79991234567', text: 'through the API connector' });
      assert.equal(await waitForStatus(t.gateway, id, ['delivered', 'failed', 'rejected']), 'delivered');
      assert.equal(sim.submits.find((s) => s.destinationAddr === '79991234567')?.systemId, 'apiop');
      const routes = await get('/v1/routes');
      assert.deepEqual(routes.data.map((r: { source: string; connector: string }) => [r.source, r.connector]), [['config', 'operator'], ['api', 'apiop']]);

      assert.equal((await call('DELETE', '/v1/connectors/apiop')).body.error.code, 'connector_in_use');
      assert.equal((await call('DELETE', '/v1/connectors/operator')).body.error.code, 'connector_from_config');
      assert.equal((await call('DELETE', `/v1/routes/${route.body.id}`)).status, 204);
      assert.equal((await call('DELETE', '/v1/connectors/apiop')).status, 204);
      latest = await connectors();
      assert.equal(connector('apiop'), undefined);
    });

    test('an inbound long message is reassembled whatever the order of its parts and stored for the owner of the number', async () => {
      const assign = await t.gateway.app.inject({
        method: 'POST',
        url: '/v1/numbers',
        headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ number: '79160009999', account_id: t.accountId }),
      });
      assert.equal(assign.statusCode, 201);
      await sim.sendMo({ from: '79161112233', to: '79160009999', text: '', partsText: ['Hello ', 'from the ', 'handset'], order: [3, 1, 2], ref: 42 });
      const inbound = (await get('/v1/inbound-messages')).data as { text: string; complete: boolean; from: string }[];
      assert.deepEqual(
        inbound.map((m) => ({ text: m.text, complete: m.complete, from: m.from })),
        [{ text: 'Hello from the handset', complete: true, from: '+79161112233' }],
      );

      // Part 2 of 3 never comes: after the connector's parts timeout (1 s here) what came is stored, marked incomplete.
      await sim.sendMo({ from: '79161112244', to: '79160009999', text: '', partsText: ['One ', 'two ', 'three'], order: [1, 3], ref: 43 });
      const deadline = Date.now() + 10_000;
      type Inbound = { from: string; text: string; complete: boolean; parts_expected: number; parts_received: number };
      let incomplete: Inbound | undefined;
      while (!incomplete) {
        incomplete = ((await get('/v1/inbound-messages')).data as Inbound[]).find((m) => m.from === '+79161112244');
        if (!incomplete && Date.now() > deadline) assert.fail('the incomplete inbound message was not stored');
        if (!incomplete) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.deepEqual(incomplete && { text: incomplete.text, complete: incomplete.complete, parts_expected: incomplete.parts_expected, parts_received: incomplete.parts_received }, {
        text: 'One three',
        complete: false,
        parts_expected: 3,
        parts_received: 2,
      });
    });
  });
}
