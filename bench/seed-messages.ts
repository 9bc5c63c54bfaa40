/**
 * Direct-SQL seed of many finished messages into a gateway's SQLite file, for
 * the cabinet's benches (bench/history.ts, bench/export.ts). Finished
 * statuses only, so the running gateway's scheduler has nothing to pick up.
 */
import { DatabaseSync } from 'node:sqlite';
import { newId } from '../src/domain/ids.ts';

export interface SeedShape {
  /** distinct recipients: each gets about n / recipients messages */
  recipients: number;
  groups: number;
  projects: number;
  /** the messages are spread over this many days before now */
  days: number;
}

export const DEFAULT_SHAPE: SeedShape = { recipients: 50_000, groups: 20, projects: 10, days: 30 };
const STATUSES: [string, number][] = [
  ['delivered', 0.8],
  ['undelivered', 0.1],
  ['failed', 0.04],
  ['expired', 0.05],
  ['rejected', 0.01],
];
const OPERATORS = ['mts', 'megafon', 'beeline', 'tele2', null];

export function recipientOf(i: number): string {
  return `+7916${String(10_000_000 + i).slice(1)}`;
}

function statusAt(x: number): string {
  let acc = 0;
  for (const [s, p] of STATUSES) {
    acc += p;
    if (x < acc) return s;
  }
  return 'delivered';
}

/** Inserts n messages of the account, oldest first, in transactions of 20,000 rows; returns the ms it took. */
export function seedMessages(sqliteFile: string, accountId: string, n: number, shape: SeedShape = DEFAULT_SHAPE, log: (line: string) => void = () => {}): number {
  const t0 = performance.now();
  const db = new DatabaseSync(sqliteFile);
  db.exec('PRAGMA busy_timeout = 10000; PRAGMA synchronous = OFF;');
  const insert = db.prepare(`INSERT INTO messages (id, account_id, batch_id, channel, recipient, sender, body, encoding, characters, parts_count, traffic_type,
      group_tag, project, reference, status, reason_code, provider_code, reason_detail, connector_id, attempts, ttl_seconds, send_at, expires_at, due_at,
      lease_until, created_at, queued_at, sent_at, delivered_at, completed_at, updated_at, failed_connectors, operator, region, callback_url, content)
    VALUES (?, ?, NULL, 'sms', ?, 'Shop', ?, 'gsm7', ?, 1, 'service', ?, ?, NULL, ?, ?, NULL, NULL, 'sandbox', 1, 86400, NULL, ?, ?, NULL, ?, ?, ?, ?, ?, ?, NULL, ?, 'RU-MOW', NULL, NULL)`);
  const start = Date.now() - shape.days * 86_400_000;
  const step = (shape.days * 86_400_000 - 60_000) / n;
  // A fixed pseudo-random sequence, so runs seed the same data.
  let seed = 42;
  // mulberry32
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
  const BATCH = 20_000;
  for (let done = 0; done < n; ) {
    db.exec('BEGIN');
    const end = Math.min(n, done + BATCH);
    for (let i = done; i < end; i++) {
      const created = Math.floor(start + i * step);
      const status = statusAt(rand());
      const text = `Your code is ${String(i % 1_000_000).padStart(6, '0')}. Do not share it.`;
      const sent = created + 40;
      const delivered = status === 'delivered' ? created + 1500 : null;
      insert.run(
        newId('msg', created),
        accountId,
        recipientOf(Math.floor(rand() * shape.recipients)),
        text,
        text.length,
        rand() < 0.5 ? `g${Math.floor(rand() * shape.groups)}` : null,
        rand() < 0.3 ? `p${Math.floor(rand() * shape.projects)}` : null,
        status,
        status === 'delivered' ? null : status === 'expired' ? 'expired' : 'subscriber_unknown',
        created + 86_400_000,
        created,
        created,
        created + 5,
        sent,
        delivered,
        created + 2000,
        created + 2000,
        OPERATORS[Math.floor(rand() * OPERATORS.length)] ?? null,
      );
    }
    db.exec('COMMIT');
    done = end;
    if (done % 200_000 === 0 || done === n) log(`seeded ${done.toLocaleString('en')} messages`);
  }
  db.exec('ANALYZE');
  db.close();
  return performance.now() - t0;
}
