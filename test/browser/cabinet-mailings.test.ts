/**
 * The cabinet's mailing page and the connectors' per-node state, in Chromium:
 * a mailing started from its page on a small contact list (the sandbox)
 * reaches 100 % without reloading, its figures pushed by the event stream's
 * `mailing.progress` (and, with that stream blocked, polled from the stats
 * route); in a cluster (PostgreSQL and Redis), Connectors and routes shows
 * each worker's part of a connector: this node's, and a second worker's
 * published through the same Redis board the workers use.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ConnectorStatusBoard } from '../../src/cluster/connector-status.ts';
import { createLogger } from '../../src/log.ts';
import { UsersRepository } from '../../src/store/users.ts';
import { buildCabinetIfStale } from '../../src/web/build-if-stale.ts';
import { ARTIFACTS, browserMissing, CHROMIUM } from './chromium.ts';
import { clusterSkip, dropRedisPrefix, TEST_REDIS_URL } from '../cluster-nodes.ts';
import { startTestGateway, type TestGateway, until } from '../helpers.ts';

const PASSWORD = 'correct horse battery';

const skipBrowser = browserMissing();
const skipCluster = skipBrowser || (await clusterSkip());

let browser: Browser;
before(async () => {
  if (skipBrowser) return;
  buildCabinetIfStale();
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => browser?.close());

async function listen(t: TestGateway): Promise<string> {
  const address = await t.gateway.app.listen({ port: 0, host: '127.0.0.1' });
  // localhost: a secure context, where Chromium keeps the Secure session cookie over plain HTTP.
  return address.replace('127.0.0.1', 'localhost');
}

async function signIn(base: string, email: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 820 }, locale: 'en-GB' });
  const page = await context.newPage();
  await page.goto(base + '/');
  await page.getByLabel('Email').fill(email);
  await page.locator('input[type=password]').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  return { context, page };
}

/** Records every value the progress panel's `data-percent` takes, as it takes it (a MutationObserver in the page). */
async function watchPercent(page: Page): Promise<void> {
  await page.evaluate(() => {
    const g = globalThis as unknown as { seen: string[]; document: { body: object; querySelector(s: string): { getAttribute(n: string): string | null } | null }; MutationObserver: new (f: () => void) => { observe(n: object, o: object): void } };
    g.seen = [];
    const look = () => {
      const v = g.document.querySelector('[data-testid="mailing-progress"]')?.getAttribute('data-percent');
      if (v !== undefined && v !== null && g.seen.at(-1) !== v) g.seen.push(v);
    };
    new g.MutationObserver(look).observe(g.document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-percent'] });
    look();
  });
}
const seenPercents = (page: Page) => page.evaluate(() => (globalThis as unknown as { seen: string[] }).seen);

describe('the cabinet\'s mailing page in Chromium', { skip: skipBrowser }, () => {
  let t: TestGateway;
  let base: string;
  let listId: string;
  let projectId: string;
  let templateId: string;
  const owner = 'owner@example.com';
  const call = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(base + url, { method, headers: { authorization: `Bearer ${t.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const json = (await res.json().catch(() => null)) as Record<string, unknown> & { id: string };
    assert.ok(res.ok, `${method} ${url}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  /** A draft on the list, 2 recipients a second by default: about four seconds running, so the page sees it on the way. */
  const draft = async (name: string, rate: Record<string, number> = { throttle_per_second: 2 }) => (await call('POST', '/v1/mailings', { project_id: projectId, template_id: templateId, list_id: listId, name, channels: ['sms'], start_at: new Date().toISOString(), traffic_type: 'service', ...rate })).id;

  before(async () => {
    // Receipts a little after sending: the panel shows sent before delivered.
    t = await startTestGateway('sqlite', { DEPESHA_SANDBOX_RECEIPT_DELAY_MS: '300' });
    await new UsersRepository(t.gateway.database.db).create({ email: owner, password: PASSWORD, role: 'owner', accountId: t.accountId });
    base = await listen(t);
    projectId = (await call('POST', '/v1/projects', { name: 'Mailings', code: 'MLG' })).id;
    const rows = Array.from({ length: 10 }, (_, i) => `m${i},Имя${i},+7916555${String(1000 + i)}`);
    const imported = await fetch(`${base}/v1/contacts/import?project_id=${projectId}`, { method: 'POST', headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'text/csv' }, body: ['guid,first_name,phone', ...rows].join('\n') });
    assert.equal(imported.status, 200, await imported.text());
    const contacts = (await call('GET', `/v1/contacts?project_id=${projectId}&limit=100`)) as unknown as { data: { id: string; guid: string }[] };
    listId = (await call('POST', '/v1/contact-lists', { project_id: projectId, name: 'eight' })).id;
    await call('POST', `/v1/contact-lists/${listId}/members`, { contact_ids: contacts.data.filter((c) => c.guid !== 'm8' && c.guid !== 'm9').map((c) => c.id) });
    templateId = (await call('POST', '/v1/templates', { project_id: projectId, channel: 'sms', name: 't', text: 'Привет, {{first_name}}!' })).id;
  });
  after(async () => t?.close());

  test('an owner starts a mailing from its page and watches it reach 100 % live from the event stream, without reloading', async () => {
    const id = await draft('Зимняя распродажа');
    const { context, page } = await signIn(base, owner);
    await page.getByRole('link', { name: 'Mailings', exact: true }).click();
    await page.getByRole('heading', { name: 'Mailings' }).waitFor();
    await page.locator(`tr[data-mailing-id="${id}"]`).click();
    await page.getByRole('heading', { name: 'Зимняя распродажа' }).waitFor();
    await page.getByText('Not started yet: the figures show once its first run starts.').waitFor();
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));
    const statsRequests: number[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === `/v1/mailings/${id}/stats`) statsRequests.push(Date.now());
    });
    const streamOpened = page.waitForRequest((r) => r.url().includes('/v1/events/stream?types=mailing.progress'));
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await streamOpened;
    await page.getByTestId('mailing-progress').waitFor({ timeout: 15_000 });
    await watchPercent(page);
    await page.getByTestId('mailing-progress-source').filter({ hasText: 'Live: updates as they happen' }).waitFor();
    // From the first figures past 0 on (the fetch made when the stream opened has been answered by then), only the stream moves the bar.
    await page.waitForFunction(() => Number((globalThis as unknown as { seen: string[] }).seen.at(-1) || 0) > 0, undefined, { timeout: 30_000 });
    const liveFrom = Date.now();
    await page.locator('[data-testid="mailing-progress"][data-percent="100"]').waitFor({ timeout: 30_000 });
    await page.locator('[data-mailing-status="finished"]').waitFor({ timeout: 15_000 });
    await page.getByText('Final figures, run 1').waitFor();
    // The final figures: the list's 8, all sent; the receipts follow a little after.
    await page.getByTestId('run-audience').filter({ hasText: /^8$/ }).waitFor();
    await page.getByTestId('run-accepted').filter({ hasText: /^8$/ }).waitFor();
    await page.getByTestId('run-remaining').filter({ hasText: /^0$/ }).waitFor();
    await page.getByTestId('run-errors').filter({ hasText: /^0$/ }).waitFor();
    const seen = await seenPercents(page);
    assert.ok(seen.some((p) => p !== '' && Number(p) > 0 && Number(p) < 100), `seen on the way, not only at the end: ${JSON.stringify(seen)}`);
    assert.deepEqual(seen.filter((p) => p !== '').map(Number), [...seen.filter((p) => p !== '').map(Number)].sort((a, b) => a - b), 'the bar never goes back');
    assert.equal(statsRequests.filter((at) => at > liveFrom).length, 0, 'while the stream was open the figures came over it: the stats route was not polled');
    assert.equal(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker), 42, 'the page was not reloaded');
    const stats = (await call('GET', `/v1/mailings/${id}/stats`)) as unknown as { audience: number; remaining: number; recipients: { accepted: number } };
    assert.deepEqual([stats.audience, stats.remaining, stats.recipients.accepted], [8, 0, 8]);
    await page.getByTestId('run-delivered').filter({ hasText: /^8$/ }).waitFor({ timeout: 15_000 }).catch(() => {});
    await page.screenshot({ path: path.join(ARTIFACTS, 'mailing.png'), fullPage: true });
    await page.getByRole('link', { name: '← Back' }).click();
    await page.locator(`tr[data-mailing-id="${id}"] [data-mailing-status="finished"]`).waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'mailings.png'), fullPage: true });
    await context.close();
  });

  test('a finished mailing can be cancelled from its page; a draft without a start time says why it cannot start instead of offering Start', async () => {
    const finished = await draft('Готово', {});
    await call('POST', `/v1/mailings/${finished}/schedule`);
    await until('finished', async () => ((await call('GET', `/v1/mailings/${finished}`)).status === 'finished' ? true : undefined));
    const { context, page } = await signIn(base, owner);
    await page.goto(`${base}/mailings/${finished}`);
    await page.locator('[data-mailing-status="finished"]').waitFor();
    await page.getByRole('button', { name: 'Cancel mailing', exact: true }).click();
    await page.locator('[data-mailing-status="cancelled"]').waitFor({ timeout: 15_000 });
    const undated = (await call('POST', '/v1/mailings', { project_id: projectId, template_id: templateId, list_id: listId, name: 'Без даты', channels: ['sms'] })).id;
    await page.goto(`${base}/mailings/${undated}`);
    await page.getByRole('heading', { name: 'Без даты' }).waitFor();
    await page.getByTestId('mailing-not-startable').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Start', exact: true }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Cancel mailing', exact: true }).count(), 1);
    await context.close();
  });

  test('with the progress stream refused, the page polls the stats route, and goes back to the stream once it opens again', async () => {
    // 30 a minute: about sixteen seconds running, room for the stream to be refused, polled around and opened again
    // (the page tries it 3 s after a refusal, then 6 s after the next).
    const id = await draft('Без потока', { throttle_per_minute: 30 });
    const { context, page } = await signIn(base, owner);
    let refused = 0;
    const progressStream = (url: URL) => url.pathname === '/v1/events/stream' && url.searchParams.get('types') === 'mailing.progress';
    await page.route(progressStream, (route) => {
      refused++;
      return route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'unavailable', message: 'test: the stream is down' } }) });
    });
    const statsRequests: number[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === `/v1/mailings/${id}/stats`) statsRequests.push(Date.now());
    });
    await page.goto(`${base}/mailings/${id}`);
    await page.getByRole('heading', { name: 'Без потока' }).waitFor();
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.getByTestId('mailing-progress').waitFor({ timeout: 15_000 });
    await watchPercent(page);
    await page.getByTestId('mailing-progress-source').filter({ hasText: 'Reconnecting: polling every 2 s' }).waitFor();
    const pollingFrom = statsRequests.length;
    await page.waitForRequest((r) => new URL(r.url()).pathname === `/v1/mailings/${id}/stats`, { timeout: 10_000 });
    assert.ok(statsRequests.length > pollingFrom, 'polled while the stream was refused');
    assert.ok(refused >= 1, 'the page tried the stream');
    const percentWhilePolling = Number(await page.getByTestId('mailing-progress').getAttribute('data-percent'));
    assert.ok(percentWhilePolling < 100, `still running when the stream comes back: ${percentWhilePolling} %`);
    // The stream is back: the page opens it again by itself and takes the figures from it.
    await page.unroute(progressStream);
    await page.getByTestId('mailing-progress-source').filter({ hasText: 'Live: updates as they happen' }).waitFor({ timeout: 15_000 });
    await page.locator('[data-testid="mailing-progress"][data-percent="100"]').waitFor({ timeout: 30_000 });
    await page.locator('[data-mailing-status="finished"]').waitFor({ timeout: 15_000 });
    await page.getByTestId('run-accepted').filter({ hasText: /^8$/ }).waitFor();
    const seen = await seenPercents(page);
    assert.ok(seen.some((p) => p !== '' && Number(p) > percentWhilePolling && Number(p) < 100) || percentWhilePolling >= 80, `progress on the way after the stream opened again: ${JSON.stringify(seen)}`);
    assert.deepEqual(seen.filter((p) => p !== '').map(Number), [...seen.filter((p) => p !== '').map(Number)].sort((a, b) => a - b), 'the bar never goes back');
    await context.close();
  });
});

describe('the cabinet\'s connectors per node in Chromium (a cluster node on PostgreSQL and Redis)', { skip: skipCluster }, () => {
  const prefix = `cabnodes${process.pid}`;
  const admin = 'admin@example.com';
  let t: TestGateway;
  let base: string;

  before(async () => {
    t = await startTestGateway('postgres', { REDIS_URL: TEST_REDIS_URL, DEPESHA_REDIS_PREFIX: prefix });
    await new UsersRepository(t.gateway.database.db).create({ email: admin, password: PASSWORD, role: 'administrator', accountId: null });
    base = await listen(t);
  });
  after(async () => {
    await t?.close();
    await dropRedisPrefix(prefix);
  });

  test('Connectors and routes shows each worker node\'s part of a connector: this node\'s, then a second worker\'s with its error', async () => {
    const { context, page } = await signIn(base, admin);
    await page.getByRole('link', { name: 'Connectors and routes' }).click();
    await page.getByRole('heading', { name: 'Connectors and routes' }).waitFor();
    const nodes = page.getByTestId('connector-nodes-sandbox').locator('tbody tr');
    await nodes.first().waitFor({ timeout: 15_000 });
    assert.equal(await nodes.count(), 1, 'one worker: this node');
    const self = nodes.first();
    const selfId = await self.getAttribute('data-node-id');
    assert.match(selfId ?? '', /^[^:]+:\d+:[0-9a-f]+$/, 'the node id: host:pid:random');
    await self.locator('[data-node-status="up"]').waitFor();
    assert.equal(await self.getByTestId('node-detail').textContent(), '—');
    assert.equal(await self.locator('td').nth(3).textContent(), '1/1');

    // A second worker's report, through the board the workers publish with (Redis), its bind refused.
    const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const fake = new ConnectorStatusBoard(redis, prefix, createLogger('silent'), { ttlMs: t.config.bindLeaseMs, nodeId: 'worker-b:4242:0badc0de' });
    const since = Date.now() - 60_000;
    fake.publish(() => [
      { id: 'sandbox', type: 'sandbox', status: 'down', detail: 'bind refused: 0x0000000E invalid password', since, links: { up: 0, total: 1 }, inFlight: 0, enabled: true, circuit: { status: 'open', reason: 'bind refused', since, until: null, consecutiveFailures: 3 } },
    ]);
    try {
      const other = page.locator('[data-testid="connector-nodes-sandbox"] tr[data-node-id="worker-b:4242:0badc0de"]');
      await other.waitFor({ timeout: 15_000 });
      assert.equal(await nodes.count(), 2);
      await other.locator('[data-node-status="down"]').waitFor();
      assert.equal(await other.getByTestId('node-detail').textContent(), 'bind refused: 0x0000000E invalid password');
      assert.equal(await other.locator('td').nth(3).textContent(), '0/1');
      assert.equal(await other.locator('td').nth(4).textContent(), 'open');
      // The connector's own row: merged over both (one up, one down: degraded), links summed.
      const row = page.locator('tr[data-connector-id="sandbox"]');
      await row.locator('[data-connector-status="degraded"]').waitFor({ timeout: 10_000 });
      await row.getByText('1/2').waitFor();
      await page.screenshot({ path: path.join(ARTIFACTS, 'connectors-nodes.png'), fullPage: true });
    } finally {
      // A worker that stops removes its report at once.
      await fake.stop();
      redis.disconnect();
    }
    await page.locator('[data-testid="connector-nodes-sandbox"] tr[data-node-id="worker-b:4242:0badc0de"]').waitFor({ state: 'detached', timeout: 15_000 });
    assert.equal(await nodes.count(), 1);
    await context.close();
  });
});
