import assert from 'node:assert/strict';
import { request } from 'node:http';

/**
 * Curl examples of a Markdown page, read and replayed (test/compat-docs.test.ts):
 * the page's fenced blocks, the shell those examples use, the curl options
 * they use, the reply documented under each (`# [STATUS] [BODY] [(note)]`)
 * and a comparison of an answer with it. In a documented body `"…"` is any
 * string, `"prefix…"` a string with that prefix, a 32-hex key any such key;
 * what a placeholder stood for is bound, for the examples after it.
 */

export interface Example {
  /** the example's words after the shell's quote removal and expansion, the first being curl */
  words: string[];
  /** the comment lines right under it (no blank line between), without their `#` */
  reply: string[];
  /** the first line of the example in its page, for messages */
  line: number;
}

/** The fenced code blocks of a Markdown page: their info string, text and first line. */
export function fencedBlocks(markdown: string): { info: string; text: string; line: number }[] {
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
export function shellCommands(page: string, block: string, firstLine: number, vars: Record<string, string>, arrays: Record<string, string[]>): Example[] {
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
    if (!(name in vars)) throw new Error(`${page}:${line}: $${name} is not one of ${Object.keys(vars).join(', ')}`);
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
      if (words[0] !== 'curl') throw new Error(`${page}:${commandLine}: an example runs ${words[0]}, not curl`);
      last = { words, reply: [], line: commandLine };
      examples.push(last);
    }
    words = [];
  };
  let i = 0;
  const text = block;
  const readName = () => {
    const m = /^\{([A-Za-z_]\w*)(\[@\])?\}|^([A-Za-z_]\w*)/.exec(text.slice(i + 1));
    if (!m) throw new Error(`${page}:${line}: a $ the test cannot expand`);
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
      if (end === -1) throw new Error(`${page}:${line}: an unclosed '`);
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
        if (i >= text.length) throw new Error(`${page}:${line}: an unclosed "`);
        const d = text[i]!;
        if (d === '\\' && '"\\$`'.includes(text[i + 1]!)) {
          quoted += text[i + 1];
          i += 2;
        } else if (d === '$') {
          const { name, all } = readName();
          if (all) {
            if (!arrays[name]) throw new Error(`${page}:${line}: no array ${name}`);
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
        if (word !== undefined || quoted !== '' || (text[i] !== ' ' && text[i] !== '\n')) throw new Error(`${page}:${line}: "\${NAME[@]}" must be a word of its own`);
        (arrayName !== undefined ? array : words).push(...splice);
      } else word = (word ?? '') + quoted;
      continue;
    }
    if (c === '$') {
      const { name, all } = readName();
      if (all) throw new Error(`${page}:${line}: quote "\${${name}[@]}"`);
      word = (word ?? '') + variable(name);
      i++;
      continue;
    }
    if (';&|<>`'.includes(c)) throw new Error(`${page}:${line}: ${c} is more shell than the test reads`);
    word = (word ?? '') + c;
    i++;
  }
  endCommand();
  if (arrayName !== undefined) throw new Error(`${page}: the array ${arrayName} is not closed`);
  return examples;
}

/** What a curl command line asks for (the options the examples use; anything else fails). */
export function curlRequest(words: string[], where: string): { method: string; url: string; headers: [string, string][]; body?: string } {
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
export function documentedReply(lines: string[], where: string): { status: number; body?: unknown; note: string } {
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
export function matchDocumented(doc: unknown, actual: unknown, bindings: Map<string, string>, path: string): void {
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
export function send(req: { method: string; url: string; headers: [string, string][]; body?: string }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const body = req.body === undefined ? undefined : Buffer.from(req.body, 'utf8');
    const headers: Record<string, string> = { 'user-agent': 'curl/8 (a docs example replayed)', accept: '*/*' };
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
