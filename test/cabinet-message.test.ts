import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { dialects, freePort, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';

/** The message page's webhooks: GET /v1/messages/{id}/webhooks. */
for (const { name, skip } of await dialects()) {
  describe(`a message's webhooks (${name})`, { skip }, () => {
    let t: TestGateway;
    let receiver: Server;
    before(async () => {
      t = await startTestGateway(name);
      receiver = createServer((req, res) => {
        req.resume();
        req.on('end', () => res.writeHead(204).end());
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    });
    after(async () => {
      receiver?.close();
      await t?.close();
    });
    const call = async (method: 'GET' | 'POST', url: string, payload?: object, key = t.apiKey) => {
      const res = await t.gateway.app.inject({ method, url, headers: { authorization: `Bearer ${key}` }, ...(payload ? { payload } : {}) });
      return { status: res.statusCode, json: res.json() };
    };

    test("lists the deliveries of the message's events to the account's subscriptions, and its callback_url's pending ones", async () => {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      assert.equal((await call('POST', '/v1/webhooks', { url, event_types: ['message.sent', 'message.delivered'] })).status, 201);
      // A callback URL nobody answers: its deliveries stay pending.
      const dead = `http://127.0.0.1:${await freePort()}/callback`;
      const sent = await call('POST', '/v1/messages', { to: '+79161234567', text: 'hooks', callback_url: dead });
      assert.equal(sent.status, 202, JSON.stringify(sent.json));
      const id = sent.json.id as string;
      assert.equal(await waitForStatus(t.gateway, id, ['delivered']), 'delivered');
      const deadline = Date.now() + 15_000;
      let list: { event_type: string; status: string; url: string; webhook_id: string | null }[] = [];
      for (;;) {
        list = (await call('GET', `/v1/messages/${id}/webhooks`)).json.data;
        const subscribed = list.filter((d) => d.webhook_id !== null);
        if (subscribed.length === 2 && subscribed.every((d) => d.status === 'delivered')) break;
        if (Date.now() > deadline) assert.fail(`not delivered within 15 s: ${JSON.stringify(list)}`);
        await delay(50);
      }
      assert.deepEqual(list.filter((d) => d.webhook_id !== null).map((d) => [d.event_type, d.url]), [['message.sent', url], ['message.delivered', url]]);
      const callbacks = list.filter((d) => d.webhook_id === null);
      assert.ok(callbacks.length >= 1 && callbacks.every((d) => d.url === dead && d.status === 'pending'), JSON.stringify(callbacks));
      // Another account's message is not found; this account's unknown one neither.
      const other = await t.makeAccount('hooks-other');
      assert.equal((await call('GET', `/v1/messages/${id}/webhooks`, undefined, other.apiKey)).status, 404);
      assert.equal((await call('GET', '/v1/messages/msg_01KBNOPE00000000000000000/webhooks')).status, 404);
    });
  });
}
