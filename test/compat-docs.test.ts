import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { FakeFreeSwitch } from './fakes/freeswitch.ts';
import { AccountsRepository, generateApiKey } from '../src/store/accounts.ts';
import { apiCaller, dialects, startTestGateway, type TestGateway } from './helpers.ts';

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
const SEED_001 = {
  balance: { balance: ['rub'], route: 'ds' },
  status: { status: { key: 'd4ef9989a9e651d870a90cfed132f8d4' }, route: 'ds' },
  send: {
    send: {
      text_male: 'Уважаемый {{first_name}}! Поздравляем Вас с наступающим Новым годом!',
      text_female: 'Уважаемая {{first_name}}! Поздравляем Вас с наступающим Новым годом!',
      fields: ['first_name'],
      users: Array.from({ length: 3 }, () => ({ phone: '+79281706700', gender: 'male', first_name: 'Андрей' })),
    },
    route: 'ds',
    ttl: 7200,
    mode: 'debug',
  },
  voice: {
    send: {
      text_male: 'Здравствуйете. Поздравляем с наступающим Новым Годом!',
      text_alternative: 'Здравствуйете. Поздравляем с наступающим Новым Годом!',
      fields: ['fio'],
      users: [{ phone: '+79198828851', fio: 'Дмитрий Дмитриевич' }],
    },
    voice: 1,
    timeLimit: '2022-03-15 13:00',
    route: 'осм',
  },
};
const SEED_004: Record<string, [string, unknown]> = {
  'project': ['/project/create', { name: 'OCM', code: '010' }],
  'mailing': ['/mailing/create', { name: 'SMSMailing', project_id: '0236', template_id: '156', status: '1', channels: '1', event: '2020-08-02' }],
};

const DOC = readFileSync(new URL('../docs/compat.md', import.meta.url), 'utf8');
const DOC_BASE = 'http://localhost:8080';

interface Example {
  /** the example's words after the shell's quote removal and expansion, the first being curl */
  words: string[];
  /** the comment lines right under it (no blank line between), without their `#` */
  reply: string[];
  /** the first line of the example in docs/compat.md, for messages */
  line: number;
}

/** The fenced code blocks of a Markdown page: their info string, text and first line. */
function fencedBlocks(markdown: string): { info: string; text: string; line: number }[] {
  const blocks: { info: string; text: string; line: number }[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const start = i + 1;
    while (++i < lines.length && !/^```\s*$/.test(lines[i]!));
    blocks.push({ info: open[1]!.trim(), text: lines.slice(start, i).join('\n'), line: start + 1 });
  }
  return blocks;
}

/**
 * Splits a block of shell into commands, as bash would for what the examples
 * use: words, '…' and "…" quoting (with \" \\ \$ and $VAR, ${VAR},
 * "${NAME[@]}" in double quotes), $VAR outside quotes, backslash-newline,
 * NAME=(…) arrays (kept in `arrays`: the page is one shell session, a later
 * block uses what an earlier one set) and # comments. A comment line right
 * under a command is its documented reply.
 */
function shellCommands(block: string, firstLine: number, vars: Record<string, string>, arrays: Record<string, string[]>): Example[] {
  const examples: Example[] = [];
  let words: string[] = [];
  let word: string | undefined;
  let arrayName: string | undefined;
  let array: string[] = [];
  let line = firstLine;
  let commandLine = line;
  /** the example the next comment-only line documents (none after a blank line) */
  let last: Example | undefined;
  /** what the line being read holds so far */
  let lineKind: 'blank' | 'comment' | 'words' = 'blank';
  const variable = (name: string) => {
    if (!(name in vars)) throw new Error(`docs/compat.md:${line}: $${name} is not one of ${Object.keys(vars).join(', ')}`);
    return vars[name]!;
  };
  const endWord = () => {
    if (word === undefined) return;
    (arrayName !== undefined ? array : words).push(word);
    word = undefined;
  };
  const endCommand = () => {
    endWord();
    if (arrayName !== undefined) return; // an array spans lines
    if (words.length > 0) {
      if (words[0] !== 'curl') throw new Error(`docs/compat.md:${commandLine}: an example runs ${words[0]}, not curl`);
      last = { words, reply: [], line: commandLine };
      examples.push(last);
    }
    words = [];
  };
  let i = 0;
  const text = block;
  const readName = () => {
    const m = /^\{([A-Za-z_]\w*)(\[@\])?\}|^([A-Za-z_]\w*)/.exec(text.slice(i + 1));
    if (!m) throw new Error(`docs/compat.md:${line}: a $ the test cannot expand`);
    i += m[0].length;
    return { name: m[1] ?? m[3]!, all: m[2] !== undefined };
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\\' && text[i + 1] === '\n') {
      i += 2;
      line++;
      continue;
    }
    if (c === '\n') {
      if (lineKind === 'blank') last = undefined; // a blank line ends what the comments under an example document
      endCommand();
      lineKind = 'blank';
      i++;
      line++;
      commandLine = line;
      continue;
    }
    if (c === ' ' || c === '\t') {
      endWord();
      i++;
      continue;
    }
    if (c === '#' && word === undefined) {
      const end = text.indexOf('\n', i);
      const comment = text.slice(i + 1, end === -1 ? text.length : end);
      const onItsOwn = words.length === 0 && arrayName === undefined && lineKind === 'blank';
      if (onItsOwn && last) last.reply.push(comment.replace(/^ /, ''));
      else if (onItsOwn) last = undefined; // a comment that documents no example (it introduces the next one)
      i = end === -1 ? text.length : end;
      if (onItsOwn) lineKind = 'comment';
      continue;
    }
    lineKind = 'words';
    if (c === '(' && word !== undefined && /^[A-Za-z_]\w*=$/.test(word)) {
      arrayName = word.slice(0, -1);
      array = [];
      word = undefined;
      i++;
      continue;
    }
    if (c === ')' && arrayName !== undefined) {
      endWord();
      arrays[arrayName] = array;
      arrayName = undefined;
      i++;
      continue;
    }
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end === -1) throw new Error(`docs/compat.md:${line}: an unclosed '`);
      const quoted = text.slice(i + 1, end);
      line += quoted.split('\n').length - 1;
      word = (word ?? '') + quoted;
      i = end + 1;
      continue;
    }
    if (c === '"') {
      i++;
      let quoted = '';
      let splice: string[] | undefined;
      while (text[i] !== '"') {
        if (i >= text.length) throw new Error(`docs/compat.md:${line}: an unclosed "`);
        const d = text[i]!;
        if (d === '\\' && '"\\$`'.includes(text[i + 1]!)) {
          quoted += text[i + 1];
          i += 2;
        } else if (d === '$') {
          const { name, all } = readName();
          if (all) {
            if (!arrays[name]) throw new Error(`docs/compat.md:${line}: no array ${name}`);
            splice = arrays[name];
          } else quoted += variable(name);
          i++;
        } else {
          if (d === '\n') line++;
          quoted += d;
          i++;
        }
      }
      i++;
      if (splice) {
        if (word !== undefined || quoted !== '' || (text[i] !== ' ' && text[i] !== '\n')) throw new Error(`docs/compat.md:${line}: "\${NAME[@]}" must be a word of its own`);
        (arrayName !== undefined ? array : words).push(...splice);
      } else word = (word ?? '') + quoted;
      continue;
    }
    if (c === '$') {
      const { name, all } = readName();
      if (all) throw new Error(`docs/compat.md:${line}: quote "\${${name}[@]}"`);
      word = (word ?? '') + variable(name);
      i++;
      continue;
    }
    if (';&|<>`'.includes(c)) throw new Error(`docs/compat.md:${line}: ${c} is more shell than the test reads`);
    word = (word ?? '') + c;
    i++;
  }
  endCommand();
  if (arrayName !== undefined) throw new Error(`docs/compat.md: the array ${arrayName} is not closed`);
  return examples;
}

/** What a curl command line asks for (the options the examples use; anything else fails). */
function curlRequest(words: string[], where: string): { method: string; url: string; headers: [string, string][]; body?: string } {
  let method: string | undefined;
  let url: string | undefined;
  let body: string | undefined;
  const headers: [string, string][] = [];
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!;
    const value = () => {
      const v = words[++i];
      if (v === undefined) throw new Error(`${where}: ${w} without a value`);
      return v;
    };
    if (w === '-s' || w === '--silent') continue;
    if (w === '-X' || w === '--request') method = value();
    else if (w === '-H' || w === '--header') {
      const h = value();
      const colon = h.indexOf(':');
      if (colon < 1) throw new Error(`${where}: the header ${h} has no name`);
      headers.push([h.slice(0, colon).trim(), h.slice(colon + 1).trim()]);
    } else if (w === '-d' || w === '--data' || w === '--data-raw') {
      const d = value();
      if (d.startsWith('@') && w !== '--data-raw') throw new Error(`${where}: a body read from a file (${d}) is not replayed`);
      // curl joins several -d with &
      body = body === undefined ? d : `${body}&${d}`;
    } else if (w.startsWith('-')) throw new Error(`${where}: curl option ${w} is not one the test knows`);
    else if (url === undefined) url = w;
    else throw new Error(`${where}: a second URL ${w}`);
  }
  if (url === undefined) throw new Error(`${where}: no URL`);
  // What curl does by itself: POST with a body, and a form type unless one is given.
  if (body !== undefined && !headers.some(([name]) => name.toLowerCase() === 'content-type')) headers.push(['Content-Type', 'application/x-www-form-urlencoded']);
  return { method: method ?? (body === undefined ? 'GET' : 'POST'), url, headers, ...(body === undefined ? {} : { body }) };
}

/** `[STATUS] [JSON] [(note)]` of a reply comment: its lines joined, the later ones without their indentation. */
function documentedReply(lines: string[], where: string): { status: number; body?: unknown; note: string } {
  const text = lines.map((l, i) => (i === 0 ? l.trim() : l.trimStart())).join('');
  const m = /^(?:(\d{3})\b\s*)?/.exec(text)!;
  const status = m[1] === undefined ? 200 : Number(m[1]);
  let rest = text.slice(m[0].length);
  let body: unknown;
  if (rest.startsWith('{') || rest.startsWith('[')) {
    // The JSON value ends where its first bracket closes (outside strings).
    let depth = 0;
    let inString = false;
    let end = -1;
    for (let i = 0; i < rest.length && end === -1; i++) {
      const c = rest[i]!;
      if (inString) {
        if (c === '\\') i++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === '{' || c === '[') depth++;
      else if ((c === '}' || c === ']') && --depth === 0) end = i + 1;
    }
    if (end === -1) throw new Error(`${where}: the documented reply's JSON does not close: ${rest}`);
    try {
      body = JSON.parse(rest.slice(0, end));
    } catch (err) {
      throw new Error(`${where}: the documented reply is not JSON (${(err as Error).message}): ${rest.slice(0, end)}`);
    }
    rest = rest.slice(end);
  }
  return { status, ...(body === undefined ? {} : { body }), note: rest.trim() };
}

const HEX_KEY = /^[0-9a-f]{32}$/;

/**
 * Compares an answer with its documented shape: the same keys, lengths and
 * values, but for the placeholders (see the top). Binds what placeholders
 * stood for; a placeholder bound already must come back the same.
 */
function matchDocumented(doc: unknown, actual: unknown, bindings: Map<string, string>, path: string): void {
  if (typeof doc === 'string') {
    assert.equal(typeof actual, 'string', `${path}: a string is documented, got ${JSON.stringify(actual)}`);
    const value = actual as string;
    if (doc === '…') return;
    const bound = bindings.get(doc);
    if (bound !== undefined) {
      assert.equal(value, bound, `${path}: ${doc} stood for ${bound} earlier`);
      return;
    }
    if (doc.endsWith('…')) {
      assert.ok(value.startsWith(doc.slice(0, -1)), `${path}: ${JSON.stringify(value)} does not start as documented, ${doc}`);
      bindings.set(doc, value);
      return;
    }
    if (HEX_KEY.test(doc) && HEX_KEY.test(value)) {
      bindings.set(doc, value);
      return;
    }
    assert.equal(value, doc, path);
    return;
  }
  if (Array.isArray(doc)) {
    assert.ok(Array.isArray(actual), `${path}: an array is documented, got ${JSON.stringify(actual)}`);
    assert.equal(actual.length, doc.length, `${path}: ${doc.length} item(s) documented, ${actual.length} came: ${JSON.stringify(actual)}`);
    doc.forEach((d, i) => matchDocumented(d, actual[i], bindings, `${path}[${i}]`));
    return;
  }
  if (doc !== null && typeof doc === 'object') {
    assert.ok(actual !== null && typeof actual === 'object' && !Array.isArray(actual), `${path}: an object is documented, got ${JSON.stringify(actual)}`);
    assert.deepEqual(Object.keys(actual).sort(), Object.keys(doc).sort(), `${path}: the documented keys`);
    for (const [k, d] of Object.entries(doc)) matchDocumented(d, (actual as Record<string, unknown>)[k], bindings, `${path}.${k}`);
    return;
  }
  assert.equal(actual, doc, path);
}

/** Sends a request as curl would, a GET with a body included (fetch refuses one). */
function send(req: { method: string; url: string; headers: [string, string][]; body?: string }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const body = req.body === undefined ? undefined : Buffer.from(req.body, 'utf8');
    const headers: Record<string, string> = { 'user-agent': 'curl/8 (docs/compat.md replay)', accept: '*/*' };
    for (const [name, value] of req.headers) headers[name] = value;
    if (body) headers['content-length'] = String(body.length);
    const r = request(req.url, { method: req.method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(body);
  });
}

const fs = new FakeFreeSwitch();
const fsPort = await fs.start();
after(() => fs.stop());

test('docs/compat.md: every curl line of its sh blocks is read as an example with a documented reply', () => {
  const blocks = fencedBlocks(DOC);
  const vars = { DEPESHA_KEY: 'dpk_x', ADMIN_KEY: 'dpk_y' };
  const arrays: Record<string, string[]> = {};
  const examples = blocks.filter((b) => b.info === 'sh').flatMap((b) => shellCommands(b.text, b.line, vars, arrays));
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
        .flatMap((b) => shellCommands(b.text, b.line, vars, arrays));
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
