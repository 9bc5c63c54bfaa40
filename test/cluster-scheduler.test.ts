/**
 * The scheduled work across a leader's death: an API node, a worker and two
 * scheduler nodes as separate processes over one PostgreSQL and one Redis,
 * the SMSC simulator as the operator and a webhook receiver as the customer.
 * Work of every kind is scheduled while the first leader lives, to fire after
 * it is SIGKILLed. First the leader does some of it: a message with `send_at`
 * a moment ahead is sent, a webhook its receiver refuses once is recorded as
 * failed (to be retried), a throttled mailing is started. Then, on a clock of
 * its own started just before the kill (so that a slow machine cannot push
 * the kill past them), the rest: messages with `send_at`, a retry (the
 * operator throttles its first submit), a message whose validity ends while
 * it waits for retries (expired), a sent message whose receipt never comes
 * (expired by the scheduler, no_receipt), cascades whose first step times out
 * (in the leaderless gap, and after the take-over); and a message accepted in
 * the gap. The kill must come before the earliest of them (with a margin), and
 * each must fire after the kill: so it is the survivor's work. The other
 * scheduler must take the lead within the lock's TTL (docs/deploy.md), and
 * every piece must fire exactly once: each message submitted once, each
 * webhook event accepted once, each cascade's next step started once, each
 * recipient of the mailing given one message. At the end the leader stops
 * cleanly and a third scheduler takes the lead at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommandStatus } from '../src/smpp/pdu.ts';
import { clusterSkip, type Node, smppCluster, until } from './cluster-nodes.ts';
import { Receiver } from './webhooks-receiver.ts';

/** the leader lock's TTL (cluster/leader.ts), which docs/deploy.md promises a take-over within */
const LEADER_TTL_MS = 5000;
/** on the first clock: sent by the first leader */
const SEND_AT_EARLY_MS = 1500;
/** On the second clock, started just before the kill: some fall in the leaderless gap, some after the take-over. */
const SEND_AT_LATE_MS = [5000, 7000, 11_000];
/** the retry's back-off: between half of it and all of it (pipeline/sender.ts retryDelayMs) */
const RETRY_MS = 12_000;
/** the refused webhook's pause: between half of it and all of it after the refusal (events/webhooks/sender.ts) */
const WEBHOOK_RETRY_MS = 14_000;
/** one cascade's first step times out in the leaderless gap, the other's after the take-over */
const CASCADE_TIMEOUTS_S = [5, 9];
const MAILING_CONTACTS = 6;
/** one mailing message every 3 s: the first leader sends one or two of the six, the survivor the rest */
const MAILING_PER_MINUTE = 20;
/** the kill comes at least this long before the earliest work scheduled to fire after it */
const KILL_MARGIN_MS = 1000;

const N = {
  early: '79160000101',
  late: ['79160000111', '79160000112', '79160000113'],
  /** throttled (0x58) on its first submit */
  retry: '79160000120',
  /** refused as temporarily failed (0x14) every time: expires while it waits */
  expire: '79160000130',
  /** sent, but its receipt never comes: the scheduler expires it (no_receipt) when its validity ends */
  silent: '79160000131',
  /** each cascade's two steps */
  cascades: [
    ['79160000140', '79160000141'],
    ['79160000150', '79160000151'],
  ],
  /** accepted after the kill, due a moment later (before the take-over) */
  gap: '79160000160',
  mailing: Array.from({ length: MAILING_CONTACTS }, (_, i) => `7916000020${i + 1}`),
};

const skip = await clusterSkip();

test('cluster: the scheduled work fires exactly once across a SIGKILLed scheduler leader, the other takes over within the lock TTL', { skip, timeout: 120_000 }, async (t) => {
  const began = Date.now();
  /** submits each number was refused, by the simulator */
  const refused = new Map<string, number>();
  // The first webhook request is refused (500); every other one is taken.
  let refusedHook: string | undefined;
  const receiver = await new Receiver().listen();
  receiver.behaviour = () => {
    if (refusedHook !== undefined) return 200;
    refusedHook = receiver.received.at(-1)!.event.id;
    return 500;
  };
  const cluster = await smppCluster(t, {
    prefix: 'tsc',
    simulator: {
      withholdReceipt: (to) => to === N.silent,
      refuse: (to) => {
        const n = refused.get(to) ?? 0;
        const status = to === N.expire ? CommandStatus.ESME_RMSGQFUL : to === N.retry && n === 0 ? CommandStatus.ESME_RTHROTTLED : undefined;
        if (status !== undefined) refused.set(to, n + 1);
        return status;
      },
    },
    connector: { binds: 1, window: 20 },
    env: { DEPESHA_LEASE_SECONDS: '6', DEPESHA_RETRY_INITIAL_DELAY_MS: String(RETRY_MS), DEPESHA_WEBHOOK_RETRY_BASE_MS: String(WEBHOOK_RETRY_MS), DEPESHA_RECEIPT_GRACE_SECONDS: '0' },
    close: [() => receiver.close()],
  });
  const { sim, db, apiKey } = cluster;
  // The API node migrates the empty database; the others start on it.
  const api = cluster.node('api', 'api');
  const url = String((await api.started()).url);
  const worker = cluster.node('worker', 'worker');
  const schedulers = [cluster.node('scheduler-1', 'scheduler'), cluster.node('scheduler-2', 'scheduler')];
  await Promise.all([worker, ...schedulers].map((n) => n.started()));
  const leads = (n: Node) => n.lines.some((l) => l.msg === 'this node leads the scheduled work');
  const first = await until('a scheduler leading', async () => schedulers.find(leads), 20_000);
  const second = schedulers.find((n) => n !== first)!;
  assert.equal(leads(second), false, 'one leader at a time');
  await cluster.bound(1);

  const call = async (method: string, path: string, body?: unknown, type = 'application/json') => {
    const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${apiKey}`, ...(body === undefined ? {} : { 'content-type': type }) }, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, body: (text === '' ? null : JSON.parse(text)) as Record<string, any> };
  };
  const made = async (path: string, body: unknown, status = 201) => {
    const res = await call('POST', path, body);
    assert.equal(res.status, status, `${path}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  await made('/v1/webhooks', { url: receiver.url, event_types: ['message.delivered', 'message.expired'] });
  // The mailing's audience and template, made before the clock starts.
  const project = await made('/v1/projects', { name: 'Sched', code: 'SCH' });
  const csv = ['guid,first_name,phone', ...N.mailing.map((p, i) => `c${i},Имя${i},+${p}`)].join('\n');
  const imported = await call('POST', `/v1/contacts/import?project_id=${project.id}`, csv, 'text/csv');
  assert.equal(imported.status, 200, JSON.stringify(imported.body));
  const template = await made('/v1/templates', { project_id: project.id, channel: 'sms', name: 't', text: 'Здравствуйте, {{first_name}}!' });
  const mailing = await made('/v1/mailings', { project_id: project.id, template_id: template.id, name: 'through the kill', channels: ['sms'], throttle_per_minute: MAILING_PER_MINUTE, traffic_type: 'service', start_at: new Date(Date.now() + 1000).toISOString() });

  // The first clock: what the first leader does before it dies.
  const t0 = Date.now();
  const send = async (body: Record<string, unknown>) => String((await made('/v1/messages', { text: 'scheduled', ...body }, 202)).id);
  const early = await send({ to: `+${N.early}`, send_at: new Date(t0 + SEND_AT_EARLY_MS).toISOString() });
  assert.equal((await call('POST', `/v1/mailings/${mailing.id}/schedule`)).status, 200);

  // The leader does some of the work: the early message sent, the refused webhook's failure recorded (its receiver is
  // paused for the back-off, so no webhook is in flight), the mailing started and not finished.
  const submitsTo = (to: string) => sim.submits.filter((s) => s.destinationAddr === to).length;
  const mailed = () => N.mailing.filter((to) => submitsTo(to) > 0).length;
  await until(
    'the first leader midway through the work',
    async () => {
      if (submitsTo(N.early) === 0 || refusedHook === undefined || mailed() === 0) return undefined;
      const failed = await db.query(`select 1 from webhook_deliveries where event_id = $1 and attempts >= 1 and lease_until is null`, [refusedHook]);
      return failed.rowCount === 1 ? true : undefined;
    },
    15_000,
  );
  const refusedAt = receiver.received[0]!.at;

  // The second clock, just before the kill: everything below is due at its own moment from here.
  const t1 = Date.now();
  const at = (ms: number) => new Date(t1 + ms).toISOString();
  const ids = {
    early,
    late: await Promise.all(N.late.map((to, i) => send({ to: `+${to}`, send_at: at(SEND_AT_LATE_MS[i]!) }))),
    retry: await send({ to: `+${N.retry}` }),
    expire: await send({ to: `+${N.expire}`, ttl_seconds: 30 }),
    silent: await send({ to: `+${N.silent}`, ttl_seconds: 30 }),
    // SMS is never read: each first step is delivered, times out, and the second step starts.
    cascades: await Promise.all(N.cascades.map(([one, two], i) => send({ to: `+${one}`, cascade: [{ channel: 'sms', until: 'read', timeout_seconds: CASCADE_TIMEOUTS_S[i] }, { channel: 'sms', to: `+${two}` }] }))),
  };
  // The retry's first submit refused (its back-off is written while the first leader lives), the cascades' first steps delivered.
  await until('the retry refused and the cascades started', async () => (refused.get(N.retry) === 1 && N.cascades.every(([one]) => submitsTo(one!) === 1) ? true : undefined), 10_000);
  first.child.kill('SIGKILL');
  const killedAt = Date.now();
  await first.exited;
  const mailingMade = async () => (await db.query<{ created_at: string }>(`select created_at from messages where mailing_id = $1`, [mailing.id])).rows.map((r) => Number(r.created_at));
  const mailedBefore = (await mailingMade()).filter((c) => c <= killedAt).length;
  // Nothing left to fire was due before the kill (with a margin): the kill came in time on this machine, however slow.
  const earliest = Math.min(t1 + SEND_AT_LATE_MS[0]!, t1 + CASCADE_TIMEOUTS_S[0]! * 1000, t1 + RETRY_MS / 2, refusedAt + WEBHOOK_RETRY_MS / 2);
  assert.ok(killedAt <= earliest - KILL_MARGIN_MS, `the kill came ${killedAt - t1} ms into the second clock, ${earliest - killedAt} ms before the earliest work due after it (wanted ${KILL_MARGIN_MS})`);
  const gap = await send({ to: `+${N.gap}`, send_at: new Date(Date.now() + 1000).toISOString() });
  const took = await second.waitForLine((l) => l.msg === 'this node leads the scheduled work', 'taking the lead', 15_000);
  const takeOverMs = Date.parse(String(took.time)) - killedAt;
  t.diagnostic(`killed the leader ${killedAt - t0} ms into the work, ${killedAt - t1} ms into the second clock, ${earliest - killedAt} ms before the earliest work due after it (${mailedBefore} of ${MAILING_CONTACTS} mailing messages made); the other scheduler led ${takeOverMs} ms after the kill`);
  assert.ok(takeOverMs <= LEADER_TTL_MS + 500, `the take-over took ${takeOverMs} ms, more than the lock's TTL of ${LEADER_TTL_MS} ms`);
  // A scheduler in the dead one's place (started only now, so that the take-over above was the second's), for the clean hand-over at the end.
  const third = cluster.node('scheduler-3', 'scheduler');

  // Everything ends: the expiring message last, when its 30 s validity is over.
  const all = [ids.early, ...ids.late, ids.retry, ids.expire, ids.silent, ...ids.cascades, gap];
  await until(
    'every message and the mailing final',
    async () => {
      const open = await db.query(`select count(*)::int as n from messages where status in ('accepted', 'queued', 'sent')`);
      const m = await call('GET', `/v1/mailings/${mailing.id}`);
      return open.rows[0].n === 0 && m.body.status === 'finished' ? true : undefined;
    },
    45_000,
  ).catch(async (err: unknown) => {
    const rows = await db.query(`select id, status, reason_code, due_at, attempts from messages where status in ('accepted', 'queued', 'sent')`);
    throw new Error(`${(err as Error).message}: ${JSON.stringify(rows.rows)}`);
  });
  const status = async (id: string) => (await db.query<{ status: string; reason_code: string | null }>(`select status, reason_code from messages where id = $1`, [id])).rows[0]!;

  /** when the simulator took the (only) submit to `to` */
  const submittedAt = (to: string) => sim.submits.find((s) => s.destinationAddr === to)!.at;
  // send_at: each submitted once, not before its time; the late ones after the kill (by the survivor).
  for (const [to, id, due, clock] of [[N.early, ids.early, SEND_AT_EARLY_MS, t0], ...N.late.map((to, i) => [to, ids.late[i]!, SEND_AT_LATE_MS[i]!, t1] as const)] as const) {
    assert.equal(submitsTo(to), 1, `${to} (send_at +${due} ms) submitted once`);
    assert.ok(submittedAt(to) >= clock + due - 50, `${to} not sent before its send_at`);
    assert.equal((await status(id)).status, 'delivered');
  }
  assert.ok(submittedAt(N.early) < killedAt, 'the early message sent by the first leader');
  for (const to of N.late) assert.ok(submittedAt(to) > killedAt, `${to} sent after the kill, ${submittedAt(to) - killedAt} ms`);
  assert.equal(submitsTo(N.gap), 1, 'the message due in the leaderless gap submitted once');
  assert.ok(submittedAt(N.gap) > killedAt);
  assert.equal((await status(gap)).status, 'delivered');
  // The retry: refused once, then taken once.
  assert.equal(refused.get(N.retry), 1);
  assert.equal(submitsTo(N.retry), 1, 'the retried message submitted once after its refusal');
  assert.ok(submittedAt(N.retry) > killedAt, `the retry sent after the kill, ${submittedAt(N.retry) - killedAt} ms`);
  assert.equal((await status(ids.retry)).status, 'delivered');
  // Validity: expired while waiting for a retry, never taken.
  assert.equal(submitsTo(N.expire), 0);
  assert.deepEqual(await status(ids.expire), { status: 'expired', reason_code: 'validity_expired' });
  // Validity: sent once, no receipt; finished by the scheduler's expiry once its validity (and a grace of 0) ended.
  assert.equal(submitsTo(N.silent), 1);
  assert.deepEqual(await status(ids.silent), { status: 'expired', reason_code: 'no_receipt' });
  // The cascades: step 1 delivered but not read by its timeout; step 2 started once, submitted once, decided it.
  for (const [i, parent] of ids.cascades.entries()) {
    const steps = (await db.query<{ cascade_step: number; status: string }>(`select cascade_step, status from messages where parent_id = $1 order by cascade_step`, [parent])).rows;
    assert.deepEqual(steps, [{ cascade_step: 1, status: 'delivered' }, { cascade_step: 2, status: 'delivered' }], `cascade ${i}: each step once`);
    for (const to of N.cascades[i]!) assert.equal(submitsTo(to), 1, `cascade ${i}: ${to} submitted once`);
    // Step 2 started by the survivor: made and sent after the kill.
    const made = Number((await db.query<{ created_at: string }>(`select created_at from messages where parent_id = $1 and cascade_step = 2`, [parent])).rows[0]!.created_at);
    assert.ok(made > killedAt && submittedAt(N.cascades[i]![1]!) > killedAt, `cascade ${i}: step 2 made ${made - killedAt} ms after the kill`);
    assert.equal((await status(parent)).status, 'delivered');
  }
  // The mailing: each recipient one message, submitted once.
  const recipients = (await db.query<{ n: number }>(`select count(*)::int as n from messages where mailing_id = $1 group by recipient`, [mailing.id])).rows;
  assert.deepEqual(recipients.map((r) => r.n), N.mailing.map(() => 1), 'one message per recipient');
  for (const to of N.mailing) assert.equal(submitsTo(to), 1, `mailing recipient ${to} submitted once`);
  assert.ok(mailedBefore >= 1 && mailedBefore < MAILING_CONTACTS, `the mailing was still running at the kill: ${mailedBefore} of ${MAILING_CONTACTS} made`);
  // The rest made by the survivor after the kill, and sent after it.
  assert.equal((await mailingMade()).filter((c) => c > killedAt).length, MAILING_CONTACTS - mailedBefore, 'the rest of the mailing made after the kill');
  // (one made just before the kill may be sent just after it)
  assert.ok(N.mailing.filter((to) => submittedAt(to) > killedAt).length >= MAILING_CONTACTS - mailedBefore, 'and sent after it');
  assert.equal(sim.submits.length, 4 + 1 + 1 + 1 + 4 + MAILING_CONTACTS, 'no other submit');

  // Webhooks: every delivered or expired event (the parent's and the steps' too) has one delivery, accepted once.
  const events = (await db.query(`select count(*)::int as n from message_events where status in ('delivered', 'expired')`)).rows[0].n as number;
  assert.equal(events, all.length + 4 + MAILING_CONTACTS);
  const deliveries = async () => (await db.query<{ event_id: string; status: string }>(`select event_id, status from webhook_deliveries`)).rows;
  await until('every webhook delivered', async () => ((await deliveries()).every((d) => d.status === 'delivered') ? true : undefined), 20_000);
  const rows = await deliveries();
  assert.equal(rows.length, events, 'one delivery per event');
  const taken = new Map<string, number>();
  for (const r of receiver.accepted) taken.set(r.event.id, (taken.get(r.event.id) ?? 0) + 1);
  assert.deepEqual([...taken.keys()].sort(), rows.map((d) => d.event_id).sort(), 'the receiver took every event');
  assert.deepEqual([...taken.entries()].filter(([, n]) => n !== 1), [], 'each webhook event accepted once');
  const retried = receiver.received.filter((r) => r.event.id === refusedHook);
  assert.equal(retried.length, 2, 'the refused webhook sent again once');
  assert.ok(retried[1]!.at > killedAt, `the refused webhook retried after the kill, ${retried[1]!.at - killedAt} ms`);

  // A clean stop hands the lead on at once: the stopping leader frees the key, the waiting scheduler asks every 250 ms.
  await third.started();
  assert.equal(leads(third), false);
  second.child.kill('SIGTERM');
  const stoppedAt = Date.now();
  const handed = await third.waitForLine((l) => l.msg === 'this node leads the scheduled work', 'taking the lead after a clean stop', 10_000);
  const handOverMs = Date.parse(String(handed.time)) - stoppedAt;
  assert.equal((await second.exited).code, 0, 'the leader stopped cleanly');
  // From the key's release (after the leader's own work stopped, which takes what the machine gives it) to the
  // other's lead: at once (it asks every 250 ms), not when a lapsed key would have run out.
  // Its last lines may be read after its exit event: once its stdout closed, every line is in.
  const stdout = second.child.stdout!;
  if (!stdout.closed) await new Promise((resolve) => stdout.once('close', resolve));
  const gaveBack = second.lines.find((l) => l.msg === 'this node gave the lead back');
  assert.ok(gaveBack, 'the stopping leader gave the lead back');
  const afterRelease = Date.parse(String(handed.time)) - Date.parse(String(gaveBack.time));
  assert.ok(afterRelease < 1000, `the lead passed ${afterRelease} ms after the leader gave it back`);
  t.diagnostic(`after a clean stop (SIGTERM) the lead passed on in ${handOverMs} ms, ${afterRelease} ms after the key's release`);
  t.diagnostic(`webhook retried ${retried[1]!.at - retried[0]!.at} ms after its refusal, ${retried[1]!.at - killedAt} ms after the kill; test took ${Date.now() - began} ms`);
});
