/**
 * A mailing to --contacts contacts (default 1,000,000): the contacts are
 * written straight into the server's SQLite file (the HTTP import takes at
 * most 50,000 rows a file), then a mailing to the whole project with
 * --throttle messages a second (default 1000) is scheduled to start now.
 * Measures how long from the schedule until the runner has accepted its
 * first recipients (the audience resolved and the mailing running; the goal
 * is within 60 s), the accept rate over --duration seconds against the
 * throttle, and the server's RSS (the goal: under 300 MB). The mailing is
 * cancelled then: a bounded run, not the whole audience.
 *
 *   node bench/mailing.ts --contacts 100000 --throttle 1000 --duration 20
 */
import { readFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import path from 'node:path';
import { newId } from '../src/domain/ids.ts';
import { authHeaders, checkNodeVersion, fail, logger, machineInfo, median, numberFlag, parseBenchArgs, printResult, rssBytes, round, scrape, sleep, startServer, stopOnSignal, type Server } from './lib.ts';

const USAGE = `usage: node bench/mailing.ts [--contacts N] [--throttle PER_SECOND] [--duration SECONDS]
  --contacts N            contacts in the audience (default 1000000)
  --throttle N            the mailing's throttle, messages a second (default 1000)`;

checkNodeVersion();
const { common, values } = parseBenchArgs(USAGE, { contacts: { type: 'string' }, throttle: { type: 'string' } }, { duration: 20, connections: 1 });
if (common.db !== 'sqlite') fail('this bench fills the SQLite file directly; --db postgres is not supported yet');
const contacts = numberFlag(values, 'contacts', 1_000_000);
const throttle = numberFlag(values, 'throttle', 1000);
const log = logger(common.quiet);

let server: Server | undefined;
stopOnSignal(() => server);

async function api<T = Record<string, unknown>>(method: string, url: string, body?: unknown): Promise<T> {
  const res = await fetch(server!.url + url, { method, headers: body === undefined ? { authorization: authHeaders.authorization } : authHeaders, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const json = (await res.json()) as T;
  if (res.status >= 300) fail(`${method} ${url} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

/** Writes the contacts in transactions of 50,000 rows through a connection of our own (WAL: the server keeps running). */
function fill(file: string, accountId: string, projectId: string, n: number): void {
  const db = new DatabaseSync(file, { timeout: 10_000 });
  const insert = db.prepare(
    'INSERT INTO contacts (id, account_id, project_id, guid, first_name, last_name, middle_name, gender, phones, emails, messenger_ids, time_zone, attributes, consent, blocked, created_at, updated_at) VALUES (?, ?, ?, ?, ?, NULL, NULL, ?, ?, \'[]\', \'{}\', NULL, ?, \'{}\', 0, ?, ?)',
  );
  const now = Date.now();
  for (let start = 0; start < n; start += 50_000) {
    db.exec('BEGIN IMMEDIATE');
    for (let i = start; i < Math.min(n, start + 50_000); i++) {
      insert.run(newId('cnt', now), accountId, projectId, `g-${i}`, `Имя${i}`, i % 2 ? 'male' : 'female', `["+7916${String(i).padStart(7, '0')}"]`, `{"city":"Город${i % 100}"}`, now, now);
    }
    db.exec('COMMIT');
  }
  db.close();
}

interface Run {
  fill_s: number;
  running_after_s: number;
  accepted_per_s: number;
  sent_per_s: number;
  rss_max_mb: number;
  /** RssAnon: the process's own memory, without the database file's pages the OS keeps mapped */
  rss_anon_max_mb: number;
}

/** RssAnon and RssFile (+ RssShmem) of a process, from /proc. */
function procRss(pid: number): { anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem') };
}

const runs: Run[] = [];
for (let run = 0; run < common.runs; run++) {
  server = await startServer({ common, log });
  try {
    const account = await api<{ id: string }>('GET', '/v1/account');
    const project = await api<{ id: string }>('POST', '/v1/projects', { name: 'bench', code: `bench${run}` });
    const template = await api<{ id: string }>('POST', '/v1/templates', { project_id: project.id, channel: 'sms', name: 'bench', text: 'Здравствуйте, {{first_name}}! Скидка для города {{city}}.', text_male: 'Уважаемый {{first_name}}! Скидка для города {{city}}.' });
    log(`run ${run + 1}: server RSS before the contacts ${round(rssBytes(await scrape(server.url)) / 1e6)} MB`);
    const t0 = performance.now();
    fill(path.join(server.dataDir, 'depesha.sqlite'), account.id, project.id, contacts);
    const fillS = (performance.now() - t0) / 1000;
    log(`run ${run + 1}: ${contacts} contacts written in ${round(fillS)} s; server RSS ${round(rssBytes(await scrape(server.url)) / 1e6)} MB`);

    const mailing = await api<{ id: string }>('POST', '/v1/mailings', { project_id: project.id, template_id: template.id, name: 'bench', channels: ['sms'], start_at: new Date().toISOString(), throttle_per_second: throttle, traffic_type: 'service' });
    const scheduledAt = performance.now();
    await api('POST', `/v1/mailings/${mailing.id}/schedule`);
    type Stats = { recipients: { accepted: number }; messages: Record<string, number> };
    const stats = () => api<Stats>('GET', `/v1/mailings/${mailing.id}/stats`);
    let rssMax = 0;
    let anonMax = 0;
    const sampleRss = async () => {
      rssMax = Math.max(rssMax, rssBytes(await scrape(server!.url)));
      anonMax = Math.max(anonMax, procRss(server!.pid).anon);
    };
    let first: Stats;
    for (;;) {
      first = await stats();
      await sampleRss();
      if (first.recipients.accepted > 0) break;
      if (performance.now() - scheduledAt > 120_000) fail('the mailing did not start within 120 s');
      await sleep(100);
    }
    const runningAfter = (performance.now() - scheduledAt) / 1000;
    log(`run ${run + 1}: running ${round(runningAfter, 2)} s after the schedule`);
    const sent = (s: Stats) => Object.entries(s.messages).filter(([k]) => k !== 'accepted' && k !== 'queued').reduce((a, [, v]) => a + v, 0);
    const windowStart = performance.now();
    const startStats = first;
    let last = first;
    while (performance.now() - windowStart < common.duration * 1000) {
      await sleep(1000);
      last = await stats();
      await sampleRss();
      const p = procRss(server.pid);
      log(`  accepted ${last.recipients.accepted}, sent ${sent(last)}, rss ${round(rssMax / 1e6)} MB (anonymous ${round(p.anon / 1e6)} MB, file-backed ${round(p.file / 1e6)} MB)`);
    }
    const elapsed = (performance.now() - windowStart) / 1000;
    await api('POST', `/v1/mailings/${mailing.id}/cancel`);
    runs.push({
      fill_s: round(fillS),
      running_after_s: round(runningAfter, 2),
      accepted_per_s: round((last.recipients.accepted - startStats.recipients.accepted) / elapsed),
      sent_per_s: round((sent(last) - sent(startStats)) / elapsed),
      rss_max_mb: round(rssMax / 1e6),
      rss_anon_max_mb: round(anonMax / 1e6),
    });
    log(`run ${run + 1}: ${JSON.stringify(runs[runs.length - 1])}`);
  } finally {
    await server.stop();
    server = undefined;
  }
}

const summary = {
  bench: 'mailing',
  db: common.db,
  contacts,
  throttle_per_s: throttle,
  duration_s: common.duration,
  runs: runs.length,
  running_after_s: median(runs.map((r) => r.running_after_s)),
  accepted_per_s: median(runs.map((r) => r.accepted_per_s)),
  sent_per_s: median(runs.map((r) => r.sent_per_s)),
  rss_max_mb: median(runs.map((r) => r.rss_max_mb)),
  rss_anon_max_mb: median(runs.map((r) => r.rss_anon_max_mb)),
  fill_s: median(runs.map((r) => r.fill_s)),
  machine: machineInfo(),
};
printResult(
  common.quiet,
  [
    `mailing to ${contacts} contacts at ${throttle}/s (median of ${runs.length}): running ${summary.running_after_s} s after the schedule (goal ≤ 60 s)`,
    `  accepted ${summary.accepted_per_s}/s, sent ${summary.sent_per_s}/s over ${common.duration} s; server RSS max ${summary.rss_max_mb} MB, of it anonymous ${summary.rss_anon_max_mb} MB (goal < 300 MB)`,
  ],
  summary,
);
