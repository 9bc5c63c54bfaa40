import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SmscSimulator } from '../../smpp/simulator.ts';
import type { ConnectorContext } from '../types.ts';
import { SmppConnector } from './smpp.ts';

/** What the connector hands the pipeline; nothing arrives in these tests. */
const context: ConnectorContext = { receipt: async () => {}, inbound: async () => {}, openParts: async () => [] };

test('in a cluster a worker running none of the binds reports up, 0 of 0, and says its binds are on other nodes', async (t) => {
  const sim = new SmscSimulator({ accounts: { depesha: 'secret1' } });
  const port = await sim.start();
  const connector = new SmppConnector({ id: 'operator', type: 'smpp', host: '127.0.0.1', port, system_id: 'depesha', password: 'secret1', binds: 3, reconnect_min_ms: 20, reconnect_max_ms: 100 });
  t.after(async () => {
    await connector.stop();
    await sim.stop();
  });
  await connector.shareBinds(0);
  await connector.start(context);
  const elsewhere = connector.state();
  assert.equal(elsewhere.status, 'up', 'still in rotation: its messages are handed to the workers that have the binds');
  assert.deepEqual(elsewhere.links, { up: 0, total: 0 });
  assert.equal(elsewhere.detail, 'binds on other nodes: none of the 3 here');
  assert.equal(connector.hasBinds, false);

  // Its share grows to one bind: the state is this node's bind again.
  await connector.shareBinds(1);
  assert.notEqual(connector.state().detail, elsewhere.detail);
  assert.deepEqual(connector.state().links.total, 1);
  for (let i = 0; connector.state().status !== 'up' && i < 200; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(connector.state(), { ...connector.state(), status: 'up', detail: null, links: { up: 1, total: 1 } });
});
