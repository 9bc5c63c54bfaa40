/**
 * Graceful shutdown of smpp nodes (separate processes over one PostgreSQL and
 * one Redis), seen from a customer's ESME:
 *
 * 1. A rolling restart of both smpp nodes (SIGTERM, exit, start again; then
 *    the other) while the customer keeps submitting over two transceiver
 *    binds the way a real ESME does: on an unbind or a lost connection it
 *    binds again (to the other node while its own is away) and sends again
 *    what got no submit_sm_resp; ESME_RTHROTTLED it sends again after a pause.
 *    Every acknowledged message is stored once, delivered, submitted to the
 *    operator once and its receipt reaches the customer; nothing is refused
 *    but with ESME_RTHROTTLED, and each stopping node unbinds its binds
 *    rather than dropping them.
 * 2. SIGTERM while submits are being stored: the test holds a lock that the
 *    submits' insert waits for, so they are provably in the node's handler at
 *    the signal. They are all answered (with their ids) before the node
 *    unbinds; submits sent after the signal are answered ESME_RTHROTTLED and
 *    not stored; sent again on the other node they are delivered once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { CommandStatus } from '../src/smpp/pdu.ts';
import { SmppSessionClosedError, type SmppCloseReason, type SmppSession } from '../src/smpp/session.ts';
import { bindCustomer, clusterSkip, type Node, smppCluster, twoSmppNodes, until } from './cluster-nodes.ts';

const skip = await clusterSkip();

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const submitPdu = (text: string, k: number) =>
  ({
    command: 'submit_sm',
    sourceAddr: 'Shop',
    sourceAddrTon: 5,
    destAddrTon: 1,
    destAddrNpi: 1,
    destinationAddr: `7916${String(5_000_000 + k)}`,
    registeredDelivery: 1,
    shortMessage: Buffer.from(text),
  }) as const;

/**
 * The customer's ESME: lanes, each a transceiver bind with a home node and a
 * few submits in flight at once, paced. What it sends and what it got back.
 */
class Esme {
  /** text → message id, for every submit answered ESME_ROK */
  readonly acked = new Map<string, string>();
  /** answers other than ESME_ROK and ESME_RTHROTTLED */
  readonly refused: string[] = [];
  /** message id → receipts got, over every bind */
  readonly receipts = new Map<string, number>();
  /** why each bind closed, except at the end (our own unbind) */
  readonly closes: SmppCloseReason[] = [];
  throttled = 0;
  /** submits that got no answer (their bind went) and were sent again */
  resent = 0;
  rebinds = 0;
  #loading = true;
  #aborted = false;
  #seq = 0;
  /** texts to send again: refused for now, or never answered */
  readonly #again: string[] = [];
  #inFlight = 0;
  readonly #lanes: Promise<void>[] = [];
  /** each lane's: it has nothing left to send (its bind stays for the receipts) */
  readonly #drained: Promise<void>[] = [];
  #release!: () => void;
  readonly #released = new Promise<void>((resolve) => (this.#release = resolve));

  start(lanes: { home: number; other: number }[], perLane: number, paceMs: number): void {
    for (const lane of lanes) {
      let drained!: () => void;
      this.#drained.push(new Promise((resolve) => (drained = resolve)));
      this.#lanes.push(this.#lane(lane.home, lane.other, perLane, paceMs, drained));
    }
  }

  /** No new texts; resolves once everything sent again is answered. The binds stay, for the receipts. */
  async drain(): Promise<void> {
    this.#loading = false;
    await Promise.race([Promise.all(this.#drained), Promise.all(this.#lanes)]);
  }

  /** Drains, then unbinds every bind. */
  async stop(): Promise<void> {
    await this.drain();
    this.#release();
    await Promise.all(this.#lanes);
  }

  /** After a failed step: the lanes give up at once, whatever is left. */
  abort(): Promise<void> {
    this.#aborted = true;
    return this.stop();
  }

  #done(): boolean {
    return this.#aborted || (!this.#loading && this.#again.length === 0 && this.#inFlight === 0);
  }

  async #bind(home: number, other: number): Promise<SmppSession | undefined> {
    for (;;) {
      if (this.#done()) return undefined;
      for (const port of [home, other]) {
        try {
          return await bindCustomer(port, 'transceiver', (id) => this.receipts.set(id, (this.receipts.get(id) ?? 0) + 1));
        } catch {
          // refused (the node is stopping or away) or too many binds for a moment: the other node, then again
        }
      }
      await pause(100); // the ESME's reconnect delay
    }
  }

  async #lane(home: number, other: number, perLane: number, paceMs: number, drained: () => void): Promise<void> {
    for (let binds = 0; ; binds++) {
      const session = await this.#bind(home, other);
      if (!session) return;
      if (binds > 0) this.rebinds++;
      let ending = false;
      session.once('close', (info) => {
        if (!ending) this.closes.push(info.reason);
      });
      await Promise.all(Array.from({ length: perLane }, () => this.#submitter(session, paceMs)));
      if (this.#done() && session.state === 'open') {
        drained();
        await this.#released;
        ending = true;
        await session.unbind();
        return;
      }
      await new Promise((resolve) => (session.state === 'closed' ? resolve(undefined) : session.once('close', resolve)));
    }
  }

  async #submitter(session: SmppSession, paceMs: number): Promise<void> {
    while (session.state === 'open' && !this.#aborted) {
      const text = this.#again.shift() ?? (this.#loading ? `roll ${this.#seq++}` : undefined);
      if (text === undefined) {
        if (this.#done()) return;
        await pause(paceMs); // others' answers may still put texts back
        continue;
      }
      this.#inFlight++;
      try {
        const resp = await session.request(submitPdu(text, Number(text.split(' ')[1])));
        if (resp.status === CommandStatus.ESME_ROK && resp.command === 'submit_sm_resp') this.acked.set(text, resp.messageId);
        else if (resp.status === CommandStatus.ESME_RTHROTTLED) {
          this.throttled++;
          this.#again.push(text);
        } else this.refused.push(`${text}: status 0x${resp.status.toString(16)}`);
      } catch (err) {
        assert.ok(err instanceof SmppSessionClosedError, String(err));
        this.resent++;
        this.#again.push(text);
      } finally {
        this.#inFlight--;
      }
      await pause(paceMs);
    }
  }
}

test('cluster: smpp nodes stop gracefully: a rolling restart under an ESME loses, duplicates and refuses nothing; submits in flight at SIGTERM are answered before the unbind', { skip, timeout: 120_000 }, async (t) => {
  const cluster = await smppCluster(t, {
    prefix: 'tsr',
    connector: { binds: 1, window: 50 },
    env: { DEPESHA_LEASE_SECONDS: '6', DEPESHA_BIND_LEASE_SECONDS: '2', DEPESHA_RETRY_INITIAL_DELAY_MS: '100' },
    poolSize: 2,
  });
  const { sim, db } = cluster;
  // max_submits_per_second high enough that every ESME_RTHROTTLED here comes from a stopping node.
  const { a, b, portA, portB } = await twoSmppNodes(cluster, 1, { max_submits_per_second: 5000 });
  const ports: Record<string, number> = { 'smpp-a': portA, 'smpp-b': portB };
  const running = new Map<string, Node>([
    ['smpp-a', a],
    ['smpp-b', b],
  ]);

  /** every message stored, with the text the operator got it as */
  const stored = async () => (await db.query<{ id: string; status: string }>(`select id, status from messages`)).rows;
  /** the operator's submits by text */
  const operatorGot = () => {
    const by = new Map<string, number>();
    for (const s of sim.submits) by.set(s.body.toString('latin1'), (by.get(s.body.toString('latin1')) ?? 0) + 1);
    return by;
  };

  await t.test('1. rolling restart of both smpp nodes under a submitting ESME', async (st) => {
    const esme = new Esme();
    t.after(() => esme.abort());
    esme.start(
      [
        { home: portA, other: portB },
        { home: portB, other: portA },
      ],
      2,
      40,
    );
    for (const name of ['smpp-a', 'smpp-b']) {
      const before = esme.acked.size;
      await until(`load before stopping ${name}`, async () => (esme.acked.size >= before + 30 ? true : undefined));
      const old = running.get(name)!;
      old.child.kill('SIGTERM');
      const exit = await old.exited;
      assert.equal(exit.code, 0, `${name} exited with ${exit.code ?? exit.signal} after SIGTERM`);
      const again = cluster.smppNode(`${name}-2`, 'smpp', ports[name]!);
      running.set(name, again);
      await again.started();
    }
    const before = esme.acked.size;
    await until('load after the restarts', async () => (esme.acked.size >= before + 30 ? true : undefined));
    await esme.drain();

    assert.deepEqual(esme.refused, [], 'no submit refused but with ESME_RTHROTTLED');
    assert.ok(esme.closes.length >= 2, `each stopping node closed a bind: ${esme.closes.join(', ')}`);
    assert.deepEqual([...new Set(esme.closes)], ['peer_unbind'], 'a stopping node unbinds its binds, it does not drop them');
    const ids = [...esme.acked.values()];
    await until('every acknowledged message final', async () => ((await stored()).every((m) => !['accepted', 'queued', 'sent'].includes(m.status)) ? true : undefined), 40_000);
    const rows = await stored();
    assert.deepEqual(rows.map((r) => r.id).sort(), [...ids].sort(), 'the messages stored are exactly the acknowledged ones: none stored unanswered, none twice');
    assert.deepEqual([...new Set(rows.map((r) => r.status))], ['delivered']);
    const got = operatorGot();
    for (const text of esme.acked.keys()) assert.equal(got.get(text), 1, `${text} submitted to the operator once`);
    assert.equal(got.size, esme.acked.size, 'nothing else submitted to the operator');
    await until('a receipt for every acknowledged message', async () => (ids.every((id) => (esme.receipts.get(id) ?? 0) > 0) ? true : undefined), 30_000);
    await esme.stop();
    const twice = ids.filter((id) => esme.receipts.get(id)! > 1).length;
    st.diagnostic(
      `rolling restart: ${ids.length} acknowledged; ${esme.throttled} answered ESME_RTHROTTLED and ${esme.resent} unanswered, all sent again; ` +
        `${esme.rebinds} binds made again; binds closed by ${esme.closes.join(', ')}; receipts twice: ${twice}`,
    );
  });

  await t.test('2. SIGTERM while submits are being stored: each is answered before the unbind; later ones are refused unstored', async (st) => {
    const target = running.get('smpp-a')!;
    const receipts = new Map<string, number>();
    const onReceipt = (id: string) => receipts.set(id, (receipts.get(id) ?? 0) + 1);
    const session = await bindCustomer(portA, 'transceiver', onReceipt, { windowSize: 100 });
    const closed = new Promise<SmppCloseReason>((resolve) => session.once('close', (info) => resolve(info.reason)));
    const before = new Set((await stored()).map((r) => r.id));

    // 1. A lock the submits' insert (smpp_submits) waits for: what is sent now stays in the node's handler.
    const lock = new pg.Client({ connectionString: cluster.databaseUrl });
    lock.on('error', () => {}); // only if the database is dropped under it after a failed step
    await lock.connect();
    t.after(() => lock.end().catch(() => {}));
    await lock.query('begin');
    await lock.query('lock table smpp_submits in share mode');
    const IN_FLIGHT = 40;
    const LATE = 10;
    let k = 0;
    const inFlight = Array.from({ length: IN_FLIGHT }, () => {
      const text = `stop ${k}`;
      return { text, resp: session.request(submitPdu(text, 100_000 + k++)) };
    });
    await until('the submits waiting for the lock', async () => {
      const r = await db.query<{ n: number }>(
        `select count(*)::int as n from pg_locks l join pg_class c on c.oid = l.relation where c.relname = 'smpp_submits' and not l.granted and l.database = (select oid from pg_database where datname = current_database())`,
      );
      return r.rows[0]!.n > 0 ? true : undefined;
    }, 10_000);

    // 2. SIGTERM: the node says what it is finishing; submits sent from then on are refused at once, unstored.
    target.child.kill('SIGTERM');
    const stopping = await target.waitForLine((l) => l.msg === 'SMPP server stopping: answering the requests being handled, then unbinding every bind', 'the SMPP server stopping');
    assert.ok(Number(stopping.handling) >= 1, `submits being handled at SIGTERM: ${stopping.handling}`);
    const late = Array.from({ length: LATE }, () => {
      const text = `stop ${k}`;
      return { text, resp: session.request(submitPdu(text, 100_000 + k++)) };
    });
    for (const l of late) {
      const resp = await l.resp;
      assert.equal(resp.status, CommandStatus.ESME_RTHROTTLED, `${l.text} sent after SIGTERM is refused for now`);
    }
    assert.equal(session.state, 'open', 'the bind stays while the submits in its handler are stored');

    // 3. The lock goes: every submit in flight is answered with its id, and only then does the node unbind and exit.
    await lock.query('commit');
    await lock.end();
    const answered = await Promise.allSettled(inFlight.map((f) => f.resp));
    const lost = answered.filter((r) => r.status === 'rejected').length;
    assert.equal(lost, 0, `${lost} of the submits in flight at SIGTERM got no submit_sm_resp before the node closed the bind`);
    const ids = answered.map((r, i) => {
      const resp = (r as PromiseFulfilledResult<Awaited<(typeof inFlight)[number]['resp']>>).value;
      assert.ok(resp.command === 'submit_sm_resp' && resp.status === CommandStatus.ESME_ROK, `${inFlight[i]!.text}: ${JSON.stringify(resp)}`);
      return resp.messageId;
    });
    assert.equal(await closed, 'peer_unbind', 'the node unbinds the bind');
    assert.equal((await target.exited).code, 0);
    const now = (await stored()).filter((r) => !before.has(r.id));
    assert.deepEqual(now.map((r) => r.id).sort(), [...ids].sort(), 'stored: exactly the answered submits, not the refused ones');
    st.diagnostic(`SIGTERM with ${stopping.handling} submits being handled: all ${IN_FLIGHT} answered before the unbind, ${LATE} refused ESME_RTHROTTLED`);

    // 4. The refused ones, sent again on the other node, are stored; everything is delivered once, with its receipt.
    const other = await bindCustomer(portB, 'transceiver', onReceipt);
    t.after(() => other.close());
    for (const l of late) {
      const resp = await other.request(submitPdu(l.text, 100_000 + Number(l.text.split(' ')[1])));
      assert.ok(resp.command === 'submit_sm_resp' && resp.status === CommandStatus.ESME_ROK, JSON.stringify(resp));
      ids.push(resp.messageId);
    }
    await until('the receipts of every one of them', async () => (ids.every((id) => (receipts.get(id) ?? 0) > 0) ? true : undefined), 30_000);
    const rows = new Map((await stored()).map((r) => [r.id, r.status]));
    assert.deepEqual(ids.filter((id) => rows.get(id) !== 'delivered'), []);
    const got = operatorGot();
    for (const f of [...inFlight, ...late]) assert.equal(got.get(f.text), 1, `${f.text} submitted to the operator once`);
    await other.unbind();
  });
});
