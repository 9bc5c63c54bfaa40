/**
 * Binds of one SMPP login arriving at the same moment on a gateway in cluster
 * mode (REDIS_URL: each bind takes its place among max_binds on Redis, an
 * await between reading the login's customer and making it): a transmitter
 * and a receiver bound together make one customer, so the receiver gets the
 * receipts of what the transmitter submits.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { bindClient, type BindMode, type IncomingRequest, type SmppSession } from '../src/smpp/session.ts';
import { clusterSkip, dropRedisPrefix, submitSm, TEST_REDIS_URL } from './cluster-nodes.ts';
import { apiCaller, startTestGateway, until, type TestGateway } from './helpers.ts';

const skip = await clusterSkip();
const prefix = `tsb-${Date.now().toString(36)}`;
let t: TestGateway;
const sessions: SmppSession[] = [];

before(async () => {
  if (skip) return;
  t = await startTestGateway('postgres', { REDIS_URL: TEST_REDIS_URL, DEPESHA_REDIS_PREFIX: prefix }, { smpp: true });
});
after(async () => {
  if (skip) return;
  await Promise.all(sessions.map((s) => s.close()));
  await t?.close();
  await dropRedisPrefix(prefix);
});

test('a transmitter and a receiver of one login bound at the same moment share one customer: the receipts reach the receiver', { skip, timeout: 60_000 }, async () => {
  const api = apiCaller(t);
  const logins = ['pair0', 'pair1', 'pair2', 'pair3'];
  for (const login of logins) assert.equal((await api('POST', '/v1/smpp/credentials', { system_id: login, password: 'pass1234' })).status, 201);
  const got = new Map<string, Set<string>>(logins.map((l) => [l, new Set()]));
  const bind = async (login: string, mode: BindMode) => {
    const session = await bindClient({
      host: '127.0.0.1',
      port: t.gateway.smppPort!,
      systemId: login,
      password: 'pass1234',
      mode,
      windowSize: 20,
      onRequest: (request: IncomingRequest) => {
        if (request.command !== 'deliver_sm') return;
        got.get(login)!.add(request.tlvs.receiptedMessageId!);
        return { command: 'deliver_sm_resp' };
      },
    });
    sessions.push(session);
    return session;
  };
  // Each login's two binds side by side (a race each time; four logins so that one lost race is not luck).
  await Promise.all(
    logins.map(async (login, i) => {
      const [tx] = await Promise.all([bind(login, 'transmitter'), bind(login, 'receiver')]);
      const id = await submitSm(tx, `7916123480${i}`, `pair ${i}`);
      await until(`the receipt on ${login}'s receiver`, async () => (got.get(login)!.has(id) ? true : undefined), 15_000);
    }),
  );
});
