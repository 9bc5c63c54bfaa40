import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ConfigError, loadConfig } from './config.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('defaults need no configuration at all', () => {
  const c = loadConfig({});
  assert.equal(c.port, 8080);
  assert.equal(c.host, '0.0.0.0');
  assert.equal(c.dataDir, path.resolve('./data'));
  assert.equal(c.databaseUrl, undefined);
  assert.equal(c.defaults.region, 'RU');
  assert.equal(c.defaults.maxParts, 10);
  assert.equal(c.sqlite.synchronous, 'full');
});

test('environment variables override the file', () => {
  const file = path.join(dir, 'c.yaml');
  writeFileSync(file, 'port: 9000\nhost: 127.0.0.1\ndefaults:\n  region: KZ\n  max_parts: 4\n');
  const c = loadConfig({ DEPESHA_CONFIG: file, PORT: '9100' });
  assert.equal(c.port, 9100);
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.defaults.region, 'KZ');
  assert.equal(c.defaults.maxParts, 4);
});

test('every problem is reported at once', () => {
  const file = path.join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify({ port: 'eighty', colour: 'red', defaults: { max_parts: 0 } }));
  assert.throws(
    () => loadConfig({ DEPESHA_CONFIG: file, PORT: 'x', DATABASE_URL: 'mysql://db', DEPESHA_DEFAULT_REGION: 'XX', DEPESHA_BOOTSTRAP_API_KEY: 'short', DEPESHA_SANDBOX_OUTCOMES: '0000=lost' }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const text = err.problems.join('\n');
      for (const needle of ['PORT="x"', 'DATABASE_URL', 'XX', 'DEPESHA_BOOTSTRAP_API_KEY', 'colour', 'port', 'max_parts', 'DEPESHA_SANDBOX_OUTCOMES: sandbox outcomes: "0000=lost"']) assert.ok(text.includes(needle), `missing ${needle} in:\n${text}`);
      return true;
    },
  );
});

test('an unreadable or malformed file is a clear problem', () => {
  assert.throws(() => loadConfig({ DEPESHA_CONFIG: path.join(dir, 'missing.json') }), /cannot read .*ENOENT/);
  const broken = path.join(dir, 'broken.json');
  writeFileSync(broken, '{');
  assert.throws(() => loadConfig({ DEPESHA_CONFIG: broken }), /not valid JSON/);
});

test('connectors and routes come from the file; a password can come from the environment', () => {
  const file = path.join(dir, 'smpp.yaml');
  writeFileSync(
    file,
    [
      'connectors:',
      '  - id: operator',
      '    type: smpp',
      '    host: smsc.example.net',
      '    system_id: depesha',
      '    password_env: SMSC_PASSWORD',
      '    window: 20',
      'routes:',
      '  - connector: operator',
      '    prefixes: ["7"]',
      '',
    ].join('\n'),
  );
  const c = loadConfig({ DEPESHA_CONFIG: file, SMSC_PASSWORD: 's3cret' });
  assert.equal(c.connectors.length, 1);
  const smpp = c.connectors[0]!;
  assert.equal(smpp.type, 'smpp');
  assert.ok(smpp.type === 'smpp' && smpp.password === 's3cret' && smpp.window === 20 && !('password_env' in smpp));
  assert.deepEqual(c.routes, [{ connector: 'operator', prefixes: ['7'] }]);
});

test('connector mistakes are named with their place in the file', () => {
  const file = path.join(dir, 'bad-smpp.json');
  writeFileSync(
    file,
    JSON.stringify({
      connectors: [
        { id: 'a', type: 'smpp', host: 'h', system_id: 's' },
        { id: 'a', type: 'sandbox' },
        { id: 'b', type: 'smpp', host: 'h', system_id: 's', password_env: 'MISSING_VAR' },
      ],
      routes: [
        { connector: 'nowhere' },
        { connector: 'a', failover: ['a'] },
        { failover: ['a', 'ghost'] },
        { split: [{ connector: 'a', weight: 1 }, { connector: 'a', weight: 2 }] },
        { id: 'main', connector: 'a' },
        { id: 'main', connector: 'a' },
      ],
    }),
  );
  assert.throws(
    () => loadConfig({ DEPESHA_CONFIG: file }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const text = err.problems.join('\n');
      for (const needle of [
        'connectors.0: an smpp connector needs password',
        'connectors.1.id: a is declared twice',
        'MISSING_VAR is not set',
        'routes.0.connector: no connector with id nowhere',
        'routes.1.connector: give exactly one of connector, failover or split (got connector, failover)',
        'routes.2.failover: no connector with id ghost',
        'routes.3.split: a connector appears twice',
        'routes.5.id: another route already has the id main',
      ]) {
        assert.ok(text.includes(needle), `missing ${needle} in:\n${text}`);
      }
      return true;
    },
  );
});

test('webhook settings: defaults, the file, the environment, and their checks', () => {
  const d = loadConfig({}).webhooks;
  assert.deepEqual(d, { timeoutMs: 10000, concurrency: 32, retryBaseMs: 5000, retryMaxMs: 120000, disableAfterMs: 259200000, retentionDays: 30, allowPrivateAddresses: false });
  assert.equal(loadConfig({ DEPESHA_WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true' }).webhooks.allowPrivateAddresses, true);
  assert.throws(() => loadConfig({ DEPESHA_WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'yes' }), /DEPESHA_WEBHOOK_ALLOW_PRIVATE_ADDRESSES must be true or false/);
  const file = path.join(dir, 'webhooks.yaml');
  writeFileSync(file, 'webhooks:\n  timeout_ms: 2000\n  retention_days: 7\n');
  const c = loadConfig({ DEPESHA_CONFIG: file, DEPESHA_WEBHOOK_RETRY_BASE_MS: '20', DEPESHA_WEBHOOK_RETRY_MAX_MS: '200' }).webhooks;
  assert.equal(c.timeoutMs, 2000);
  assert.equal(c.retentionDays, 7);
  assert.equal(c.retryBaseMs, 20);
  assert.throws(() => loadConfig({ DEPESHA_WEBHOOK_RETRY_BASE_MS: '5000', DEPESHA_WEBHOOK_RETRY_MAX_MS: '100', DEPESHA_WEBHOOK_TIMEOUT_MS: '5' }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.ok(err.problems.some((p) => p.includes('webhook retry max delay')));
    assert.ok(err.problems.some((p) => p.includes('DEPESHA_WEBHOOK_TIMEOUT_MS')));
    return true;
  });
});

test("a config route's id is a word: a number would read as another route's position", () => {
  const file = path.join(dir, 'route-id.json');
  writeFileSync(file, JSON.stringify({ connectors: [{ id: 'a', type: 'sandbox' }], routes: [{ id: '7', connector: 'a' }] }));
  assert.throws(() => loadConfig({ DEPESHA_CONFIG: file }), /routes\.0\.id must match pattern/);
  writeFileSync(file, JSON.stringify({ connectors: [{ id: 'a', type: 'sandbox' }], routes: [{ id: 'main', connector: 'a', prefixes: ['7'] }] }));
  assert.deepEqual(loadConfig({ DEPESHA_CONFIG: file }).routes, [{ id: 'main', connector: 'a', prefixes: ['7'] }]);
});

test('http.trust_proxy: off by default; addresses, ranges and names from the file or the environment; anything else named', () => {
  assert.deepEqual(loadConfig({}).http.trustProxy, []);
  const file = path.join(dir, 'proxy.yaml');
  writeFileSync(file, 'http:\n  trust_proxy: [127.0.0.1, 10.0.0.0/8, loopback]\n');
  assert.deepEqual(loadConfig({ DEPESHA_CONFIG: file }).http.trustProxy, ['127.0.0.1', '10.0.0.0/8', 'loopback']);
  assert.deepEqual(loadConfig({ DEPESHA_CONFIG: file, DEPESHA_TRUST_PROXY: ' 192.0.2.1 , 2001:db8::/32' }).http.trustProxy, ['192.0.2.1', '2001:db8::/32']);
  assert.throws(() => loadConfig({ DEPESHA_TRUST_PROXY: '10.0.0.0/33,nginx' }), /DEPESHA_TRUST_PROXY: "10.0.0.0\/33", "nginx" are not an address/);
  writeFileSync(file, 'http:\n  trust_proxy: [everyone]\n');
  assert.throws(() => loadConfig({ DEPESHA_CONFIG: file }), /http.trust_proxy: "everyone" is not an address/);
});

test('verification limits: 5 per number, 1,000 per account by default; set in the file or the environment', () => {
  assert.deepEqual(loadConfig({}).verifications, { maxPerNumber: 5, maxPerAccount: 1000 });
  const file = path.join(dir, 'verify.yaml');
  writeFileSync(file, 'verifications:\n  max_per_number: 3\n  max_per_account: 50000\n');
  assert.deepEqual(loadConfig({ DEPESHA_CONFIG: file, DEPESHA_VERIFY_MAX_PER_NUMBER: '7' }).verifications, { maxPerNumber: 7, maxPerAccount: 50000 });
  assert.throws(() => loadConfig({ DEPESHA_VERIFY_MAX_PER_ACCOUNT: '0' }), /DEPESHA_VERIFY_MAX_PER_ACCOUNT=0 is out of range/);
});
