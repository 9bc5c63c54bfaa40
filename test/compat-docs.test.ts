import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { FakeFreeSwitch } from './fakes/freeswitch.ts';
import { AccountsRepository, generateApiKey } from '../src/store/accounts.ts';
import { apiCaller, dialects, startTestGateway, type TestGateway } from './helpers.ts';
import { curlRequest, documentedReply, fencedBlocks, matchDocumented, send, shellCommands } from './curl-examples.ts';
import { SEED_001_EXAMPLES } from './compat-seeds.ts';

/**
 * docs/compat.md, replayed: every curl example of its fenced `sh` blocks is
 * parsed (the shell quoting, `\` continuations, `$VAR` and `"${H[@]}"`
 * arrays the examples use; any other curl option fails the test) and sent,
 * in the order of the page, to a gateway listening on a real port, and its
 * answer is compared with the `# [STATUS] BODY` comment lines under it.
 *
 * In a documented body `"…"` is any string, `"prefix…"` a string with that
 * prefix, and a 32-hex key any such key; what stood there is bound to what
 * came back and replaced in the examples that follow (the status request
 * uses the key the balance request returned, the DELETE the id the POST
 * made). A documented status defaults to 200; a note in parentheses after the
 * body may name a header (`header Location: /project/1/update`), which is
 * checked too.
 */

/** The request bodies of the seeds' examples (001: 3.2.1, 3.2.3, 3.2.5, 3.2.7; 004: the example values of 3.1.1, 3.1.17). */
const SEED_001 = SEED_001_EXAMPLES;
const SEED_004: Record<string, [string, unknown]> = {
  'project': ['/project/create', { name: 'OCM', code: '010' }],
  'mailing': ['/mailing/create', { name: 'SMSMailing', project_id: '0236', template_id: '156', status: '1', channels: '1', event: '2020-08-02' }],
};

const DOC = readFileSync(new URL('../docs/compat.md', import.meta.url), 'utf8');
const DOC_BASE = 'http://localhost:8080';

const fs = new FakeFreeSwitch();
const fsPort = await fs.start();
after(() => fs.stop());

test('docs/compat.md: every curl line of its sh blocks is read as an example with a documented reply', () => {
  const blocks = fencedBlocks(DOC);
  const vars = { DEPESHA_KEY: 'dpk_x', ADMIN_KEY: 'dpk_y' };
  const arrays: Record<string, string[]> = {};
  const examples = blocks.filter((b) => b.info === 'sh').flatMap((b) => shellCommands('docs/compat.md', b.text, b.line, vars, arrays));
  const curlLines = blocks.flatMap((b) => b.text.split('\n')).filter((l) => /^\s*curl\b/.test(l)).length;
  assert.equal(examples.length, curlLines, 'each curl line is one example');
  assert.ok(blocks.every((b) => b.info === 'sh' || !/^\s*curl\b/m.test(b.text)), 'curl examples are in sh blocks');
  for (const e of examples) assert.ok(e.reply.join('').trim() !== '', `docs/compat.md:${e.line}: the example documents no reply (a "# STATUS BODY" line under it)`);
  // The seeds' examples are there as the seeds write them (the page's own examples come beside them).
  const bodies = examples.map((e) => ({ path: new URL(curlRequest(e.words, `docs/compat.md:${e.line}`).url).pathname, body: curlRequest(e.words, '').body })).filter((b) => b.body?.startsWith('{')).map((b) => ({ path: b.path, body: JSON.parse(b.body!) as unknown }));
  const has = (path: string, seed: unknown, what: string) => assert.ok(bodies.some((b) => b.path === path && isDeepStrictEqual(b.body, seed)), `docs/compat.md has ${what} as the seed writes it: ${JSON.stringify(seed)}`);
  for (const [what, seed] of Object.entries(SEED_001)) has('/api/v1', seed, `seed 001's ${what} example`);
  for (const [what, [path, seed]] of Object.entries(SEED_004)) has(path, seed, `seed 004's ${what} example`);
});

for (const dialect of await dialects()) {
  describe(`docs/compat.md replayed against a listening gateway on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let base: string;
    const accountKey = generateApiKey();

    before(async () => {
      t = await startTestGateway(dialect.name);
      const admin = apiCaller(t);
      // An ordinary key of the account for the examples' $DEPESHA_KEY; $ADMIN_KEY is the administrator's.
      await new AccountsRepository(t.gateway.database.db).createApiKey(t.accountId, 'docs', accountKey, { role: 'account' });
      // What the seed's balance answer shows: 97.9 RUB, 47 SMS at 2.08.
      assert.equal((await admin('POST', '/v1/balance/entries', { account_id: t.accountId, kind: 'top_up', amount: '97.90' })).status, 201);
      assert.equal((await admin('PUT', '/v1/prices', { channel: 'sms', operator: '*', traffic_type: '*', price: '2.08' })).status, 200);
      // The voice example's documented answer needs a voice route (without one: 400, as the page says).
      const connector = await admin('POST', '/v1/connectors', { id: 'fs', type: 'voice', host: '127.0.0.1', port: fsPort, gateway: 'trunk1', reconnect_min_ms: 20, secrets: { password: 'ClueCon' } });
      assert.equal(connector.status, 201, JSON.stringify(connector.body));
      assert.equal((await admin('POST', '/v1/routes', { channel: 'voice', connector: 'fs', accounts: [t.accountId] })).status, 201);
      const address = await t.gateway.app.listen({ host: '127.0.0.1', port: 0 });
      base = address.replace(/\/$/, '');
    });
    after(async () => t?.close());

    test('each curl example answers the status and body documented under it', async () => {
      const admin = apiCaller(t);
      const vars = { DEPESHA_KEY: accountKey, ADMIN_KEY: t.apiKey };
      const arrays: Record<string, string[]> = {};
      const examples = fencedBlocks(DOC)
        .filter((b) => b.info === 'sh')
        .flatMap((b) => shellCommands('docs/compat.md', b.text, b.line, vars, arrays));
      assert.ok(examples.length >= 10, `${examples.length} examples`);
      // acc_… in an example is the account the test runs as.
      const bindings = new Map<string, string>([['acc_…', t.accountId]]);
      // What the page says must exist before an example: seed 004's mailing takes template 1 of project 1.
      const prepare: Record<string, () => Promise<void>> = {
        '/mailing/create': async () => {
          const project = (await admin('GET', '/v1/projects')).body.data.find((p: { number: number }) => p.number === 1);
          assert.ok(project, 'project 1 was made by the /project/create example');
          const template = await admin('POST', '/v1/templates', { project_id: project.id, channel: 'sms', name: 'SMS', text: 'Здравствуйте, {{first_name}}!' });
          assert.deepEqual([template.status, template.body.number], [201, 1], JSON.stringify(template.body));
        },
      };
      for (const example of examples) {
        const where = `docs/compat.md:${example.line}`;
        assert.ok(example.reply.length > 0, `${where}: the example documents no reply`);
        const words = example.words.map((w) => {
          let out = w;
          for (const [doc, actual] of bindings) out = out.replaceAll(doc, actual);
          return out;
        });
        const req = curlRequest(words, where);
        assert.ok(req.url.startsWith(`${DOC_BASE}/`), `${where}: the examples call ${DOC_BASE}`);
        const path = req.url.slice(DOC_BASE.length);
        const ready = prepare[path.split('?')[0]!];
        if (ready) {
          delete prepare[path.split('?')[0]!];
          await ready();
        }
        const res = await send({ ...req, url: base + path });
        const documented = documentedReply(example.reply, where);
        const summary = `${where}: ${req.method} ${path} answered ${res.status} ${res.text}`;
        assert.equal(res.status, documented.status, summary);
        if (documented.body === undefined) assert.equal(res.text, '', summary);
        else {
          assert.match(String(res.headers['content-type']), /^application\/json/, summary);
          matchDocumented(documented.body, JSON.parse(res.text), bindings, summary);
        }
        for (const [, name, value] of documented.note.matchAll(/header ([\w-]+): (\S+)/g)) assert.equal(res.headers[name!.toLowerCase()], value, `${summary}: header ${name}`);
      }
      assert.equal(Object.keys(prepare).length, 0, 'every prepared example ran');
    });
  });
}
