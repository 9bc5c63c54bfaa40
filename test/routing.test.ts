import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SmscSimulator } from '../src/smpp/simulator.ts';
import { dialects, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';

const FINAL = ['delivered', 'undelivered', 'failed', 'rejected', 'expired'];

/**
 * Failover, the circuit breaker, switching connectors off and the route dry
 * run, through the whole gateway: two SMPP connectors, each to its own SMSC
 * simulator, behind one failover route.
 */
for (const dialect of await dialects()) {
  describe(`routing on ${dialect.name}`, { skip: dialect.skip }, () => {
    let simA: SmscSimulator;
    let simB: SmscSimulator;
    let t: TestGateway;
    let number = 79160000100;
    const nextNumber = () => `+${number++}`;
    const call = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown) => {
      const res = await t.gateway.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${t.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      return { status: res.statusCode, body: res.body === '' ? null : res.json() };
    };
    const send = async (to: string, extra: Record<string, unknown> = {}) => {
      const res = await call('POST', '/v1/messages', { to, text: 'routing test', ...extra });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      return res.body.id as string;
    };
    const submittedTo = (sim: SmscSimulator, to: string) => sim.submits.filter((s) => s.destinationAddr === to.slice(1)).length;
    /** The connector list is refreshed once a second by the delivery thread: poll it until `check` holds. */
    async function connectorsUntil(check: (list: { id: string; enabled: boolean; circuit: { status: string; reason: string | null } }[]) => boolean, what: string) {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const list = (await call('GET', '/v1/connectors')).body.data;
        if (check(list)) return list;
        if (Date.now() > deadline) assert.fail(`${what}: not within 10 s; connectors: ${JSON.stringify(list)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }

    before(async () => {
      simA = new SmscSimulator({ accounts: { depesha: 'secret1' }, receiptDelayMs: 10 });
      simB = new SmscSimulator({ accounts: { depesha: 'secret1' }, receiptDelayMs: 10 });
      const [portA, portB] = [await simA.start(), await simB.start()];
      const smpp = (id: string, port: number) => ({ id, type: 'smpp', host: '127.0.0.1', port, system_id: 'depesha', password: 'secret1', reconnect_min_ms: 20, reconnect_max_ms: 200 });
      t = await startTestGateway(
        dialect.name,
        { DEPESHA_RETRY_INITIAL_DELAY_MS: '20', DEPESHA_RETRY_MAX_DELAY_MS: '100', DEPESHA_CIRCUIT_FAILURE_THRESHOLD: '3', DEPESHA_CIRCUIT_OPEN_MS: '600000', DEPESHA_CIRCUIT_MAX_OPEN_MS: '600000' },
        { configFile: { connectors: [smpp('a', portA), smpp('b', portB)], routes: [{ failover: ['a', 'b'] }] } },
      );
      await connectorsUntil((list) => ['a', 'b'].every((id) => list.some((c) => c.id === id && (c as unknown as { status: string }).status === 'up')), 'both connectors bound');
    });
    after(async () => {
      await t?.close();
      await simA?.stop();
      await simB?.stop();
    });

    test('1. the first connector of a failover route takes the traffic', async () => {
      const to = nextNumber();
      assert.equal(await waitForStatus(t.gateway, await send(to), FINAL), 'delivered');
      assert.equal(submittedTo(simA, to), 1);
      assert.equal(submittedTo(simB, to), 0);
    });

    test('2. a refusal another connector may not make (0x45) goes to the next connector at once', async () => {
      simA.set({ permanentErrorRate: 1 });
      const refusedBefore = simA.stats.refused;
      try {
        const to = nextNumber();
        const id = await send(to);
        assert.equal(await waitForStatus(t.gateway, id, FINAL), 'delivered');
        assert.equal(simA.stats.refused - refusedBefore, 1, 'a refused it once');
        assert.equal(submittedTo(simB, to), 1);
        const message = (await call('GET', `/v1/messages/${id}`)).body;
        assert.equal(message.connector, 'b');
        assert.ok(
          message.events.some((e: { status: string; reason: string | null }) => e.status === 'queued' && e.reason === 'operator_rejected'),
          `the refusal is in the timeline: ${JSON.stringify(message.events)}`,
        );
      } finally {
        simA.set({ permanentErrorRate: 0 });
      }
    });

    test('3. a connector switched off takes no traffic until it is switched on again, without a restart', async () => {
      const off = await call('PATCH', '/v1/connectors/a', { enabled: false });
      assert.equal(off.status, 200, JSON.stringify(off.body));
      assert.equal(off.body.enabled, false);
      const to = nextNumber();
      assert.equal(await waitForStatus(t.gateway, await send(to), FINAL), 'delivered');
      assert.deepEqual([submittedTo(simA, to), submittedTo(simB, to)], [0, 1]);
      const dry = (await call('POST', '/v1/routes/test', { to })).body;
      assert.equal(dry.connector, 'b');
      assert.deepEqual(
        dry.candidates.map((c: { id: string; in_rotation: boolean; enabled: boolean }) => [c.id, c.in_rotation, c.enabled]),
        [['a', false, false], ['b', true, true]],
      );

      assert.equal((await call('PATCH', '/v1/connectors/a', { enabled: true })).body.enabled, true);
      const again = nextNumber();
      assert.equal(await waitForStatus(t.gateway, await send(again), FINAL), 'delivered');
      assert.deepEqual([submittedTo(simA, again), submittedTo(simB, again)], [1, 0]);
      assert.equal((await call('PATCH', '/v1/connectors/nowhere', { enabled: false })).status, 404);
    });

    test('4. a connector whose link keeps failing is taken out of rotation and its traffic fails over', async () => {
      simA.set({ temporaryErrorRate: 1 });
      const refusedBefore = simA.stats.refused;
      try {
        const numbers = [nextNumber(), nextNumber(), nextNumber(), nextNumber(), nextNumber()];
        const ids = [];
        // One at a time, so that the failures reach the breaker before the next message is routed.
        for (const to of numbers) {
          const id = await send(to);
          ids.push(id);
          assert.equal(await waitForStatus(t.gateway, id, FINAL), 'delivered');
        }
        for (const to of numbers) assert.equal(submittedTo(simB, to), 1, `${to} was delivered through b`);
        assert.equal(simA.stats.refused - refusedBefore, 3, 'a got exactly the failures that opened its circuit, then nothing');
        for (const to of numbers) assert.equal(submittedTo(simA, to), 0);
        const list = await connectorsUntil((l) => l.find((c) => c.id === 'a')?.circuit.status === 'open', 'the circuit of a shows open');
        assert.match(list.find((c: { id: string }) => c.id === 'a')!.circuit.reason!, /operator_error/);
        const dry = (await call('POST', '/v1/routes/test', { to: numbers[0] })).body;
        assert.equal(dry.connector, 'b');
        assert.equal(dry.candidates[0].circuit, 'open');
      } finally {
        simA.set({ temporaryErrorRate: 0 });
      }
    });

    test('5. the dry run explains the choice among routes made through the API', async () => {
      const vip = await call('POST', '/v1/routes', { connector: 'b', projects: ['vip'], traffic_types: ['transactional'] });
      assert.equal(vip.status, 201, JSON.stringify(vip.body));
      assert.deepEqual(vip.body.connectors, ['b']);
      try {
        const plain = (await call('POST', '/v1/routes/test', { to: '8 916 000-01-99' })).body;
        assert.equal(plain.to, '+79160000199');
        assert.equal(plain.route, 'config-1');
        const taken = (await call('POST', '/v1/routes/test', { to: '+79160000199', project: 'vip', traffic_type: 'transactional' })).body;
        assert.equal(taken.route, vip.body.id);
        assert.equal(taken.connector, 'b');
        assert.deepEqual(
          taken.routes.map((r: { id: string; matches: boolean }) => [r.id, r.matches]),
          [['config-1', true], [vip.body.id, true]],
        );
        const other = (await call('POST', '/v1/routes/test', { to: '+79160000199', project: 'vip' })).body;
        assert.equal(other.route, 'config-1');
        assert.match(other.routes[1].why, /traffic types/);
        assert.equal((await call('POST', '/v1/routes/test', { to: 'not a number' })).body.error.code, 'invalid_phone_number');
      } finally {
        assert.equal((await call('DELETE', `/v1/routes/${vip.body.id}`)).status, 204);
      }
    });

    test('6. a route must name exactly one of connector, failover and split, each connector known', async () => {
      const both = await call('POST', '/v1/routes', { connector: 'a', failover: ['b'] });
      assert.equal(both.status, 422);
      assert.equal(both.body.error.code, 'invalid_route');
      const unknown = await call('POST', '/v1/routes', { failover: ['a', 'ghost'] });
      assert.equal(unknown.body.error.code, 'unknown_connector');
      assert.match(unknown.body.error.message, /ghost/);
      const routes = (await call('GET', '/v1/routes')).body.data;
      assert.equal(routes.length, 1, 'nothing was written');
      assert.deepEqual(routes[0].failover, ['a', 'b']);
    });
  });
}
