/**
 * The cabinet's live stream across API nodes: a stream opened with the session
 * cookie on api-2 hears the deliveries of messages sent through api-1; signing
 * out on api-1 refuses the cookie on api-2 and ends the stream already open
 * there within the session check's period (SESSION_CHECK_MS), with
 * `event: dropped` and the reason `session_ended`. A stream opened with an API
 * key on the same node goes on. Then the keys: `stream.max_per_key` (2 here)
 * counts a key's streams on both API nodes together, and revoking a key on
 * api-1 ends its stream open on api-2 within the key check's period
 * (KEY_CHECK_MS), reason `key_revoked`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KEY_CHECK_MS, SESSION_CHECK_MS } from '../src/ingress/http/routes/events.ts';
import { clusterSkip, smppCluster } from './cluster-nodes.ts';
import { openStream, type SseClient } from './events-client.ts';

const skip = await clusterSkip();
const PASSWORD = 'cabinet-secret-1';

test('cluster: a cookie stream on api-2 hears what api-1 sent, and ends within the session check after signing out on api-1; a key\'s streams count on both nodes and end when it is revoked on the other', { skip, timeout: 240_000 }, async (t) => {
  const cluster = await smppCluster(t, { prefix: 'cabstream', connector: { binds: 1 }, env: { DEPESHA_ADMIN_PASSWORD: PASSWORD, DEPESHA_STREAM_MAX_PER_KEY: '2' } });
  // One node first (it migrates and bootstraps), then the other two: three starting at once on a machine other
  // suites share can take more than started()'s minute (cluster-migrate.test.ts is the test of that).
  const nodes = [cluster.node('api-1', 'api')];
  const url1 = String((await nodes[0]!.started()).url);
  nodes.push(cluster.node('api-2', 'api'), cluster.node('worker', 'worker,scheduler'));
  const url2 = String((await nodes[1]!.started()).url);
  await nodes[2]!.started();
  await nodes[2]!.waitForLine((l) => l.msg === 'this node leads the scheduled work', 'leading');
  await cluster.bound(1);

  const signIn = await fetch(`${url1}/v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'admin@depesha.local', password: PASSWORD }) });
  assert.equal(signIn.status, 201, await signIn.clone().text());
  const csrf = ((await signIn.json()) as { csrf_token: string }).csrf_token;
  const token = /^depesha_session=([^;]+)/.exec(signIn.headers.getSetCookie().find((c) => c.startsWith('depesha_session=')) ?? '')?.[1];
  assert.ok(token, 'the session cookie is set');
  const cookie = `depesha_session=${token}`;

  const streams: SseClient[] = [];
  t.after(() => streams.forEach((s) => s.close()));
  const cabinet = await openStream(url2, { sessionCookie: token });
  const program = await openStream(url2, cluster.apiKey);
  streams.push(cabinet, program);
  assert.equal(cabinet.status, 200, cabinet.body);
  assert.equal(program.status, 200, program.body);

  const send = async (text: string) => {
    const res = await fetch(`${url1}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${cluster.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ to: '+79161234567', text }) });
    assert.equal(res.status, 202, await res.clone().text());
    return ((await res.json()) as { id: string }).id;
  };
  const delivered = (s: SseClient, ids: string[]) => ids.every((id) => s.events.some((e) => e.event === 'message.delivered' && (JSON.parse(e.data) as { data: { message_id: string } }).data.message_id === id));
  const sent = [await send('one'), await send('two'), await send('three')];
  await cabinet.until((s) => delivered(s, sent), 'the cookie stream on api-2 hearing the deliveries sent through api-1', 30_000);
  await program.until((s) => delivered(s, sent), 'the key stream hearing them too', 30_000);

  const signOut = await fetch(`${url1}/v1/session`, { method: 'DELETE', headers: { cookie, 'x-csrf-token': csrf } });
  assert.equal(signOut.status, 204, await signOut.text());
  const signedOutAt = Date.now();

  const refused = await fetch(`${url2}/v1/session`, { headers: { cookie } });
  assert.equal(refused.status, 401, 'api-2 refuses the cookie at once');
  assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'unauthorized');
  const again = await openStream(url2, { sessionCookie: token });
  assert.equal(again.status, 401, 'a new stream with the cookie is refused');

  let timer: NodeJS.Timeout | undefined;
  await Promise.race([cabinet.ended, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the cookie stream still open 15 s after signing out')), SESSION_CHECK_MS * 3)))]);
  clearTimeout(timer);
  const endedAfter = Date.now() - signedOutAt;
  // One check period, and room for a loaded machine: the check and the farewell's write.
  assert.ok(endedAfter <= SESSION_CHECK_MS + 3000, `ended ${endedAfter} ms after signing out`);
  const last = cabinet.events[cabinet.events.length - 1]!;
  assert.equal(last.event, 'dropped');
  assert.equal((JSON.parse(last.data) as { reason: string }).reason, 'session_ended');

  // The key's stream on the same node is not the session's: it goes on.
  const after = await send('four');
  await program.until((s) => delivered(s, [after]), 'the key stream hearing a delivery after the sign-out', 30_000);
  assert.ok(!program.events.some((e) => e.event === 'dropped'), 'the key stream was not ended');

  // The key holds one stream on api-2; one more on api-1 is its second and last, on both nodes together.
  const second = await openStream(url1, cluster.apiKey);
  streams.push(second);
  assert.equal(second.status, 200, second.body);
  for (const url of [url1, url2]) {
    const third = await openStream(url, cluster.apiKey);
    streams.push(third);
    assert.equal(third.status, 429, `a third stream of the key on ${url}: ${third.body}`);
    assert.equal((JSON.parse(third.body) as { error: { code: string } }).error.code, 'too_many_streams');
  }

  // A key made and revoked on api-1; its stream is on api-2.
  const made = await fetch(`${url1}/v1/api-keys`, { method: 'POST', headers: { authorization: `Bearer ${cluster.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'revoked on api-1' }) });
  assert.equal(made.status, 201, await made.clone().text());
  const key = (await made.json()) as { id: string; key: string };
  const doomed = await openStream(url2, key.key);
  streams.push(doomed);
  assert.equal(doomed.status, 200, doomed.body);
  const revoke = await fetch(`${url1}/v1/api-keys/${key.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${cluster.apiKey}` } });
  assert.equal(revoke.status, 204, await revoke.text());
  const revokedAt = Date.now();
  await Promise.race([doomed.ended, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the revoked key\'s stream still open 15 s after the revoke')), KEY_CHECK_MS * 3)))]);
  clearTimeout(timer);
  assert.ok(Date.now() - revokedAt <= KEY_CHECK_MS + 3000, `ended ${Date.now() - revokedAt} ms after the revoke`);
  const farewell = doomed.events[doomed.events.length - 1]!;
  assert.equal(farewell.event, 'dropped');
  assert.equal((JSON.parse(farewell.data) as { reason: string }).reason, 'key_revoked');
  assert.ok(!program.events.some((e) => e.event === 'dropped'), 'the live key\'s stream on api-2 goes on');
});
