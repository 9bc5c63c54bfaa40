/**
 * A contacts file past the import's limits (rows here, lowered to 50 through
 * the gateway's internal `limits`, to 1,500; bytes to 256 KiB), on both databases: refused as
 * soon as it passes the limit with 413 `import_too_large`, while the client
 * is still sending; the import `failed` with none of its rows left staged;
 * the rest of the upload read and dropped, so the same connection serves the
 * client's next request.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { dialects, startTestGateway, type TestGateway } from './helpers.ts';

/** past one staging batch (1,000 rows), so there are staged rows to delete */
const MAX_ROWS = 1500;
const rows = (from: number, n: number) => Array.from({ length: n }, (_, i) => `g-${from + i},Имя,+7916${String(from + i).padStart(7, '0')}\n`).join('');
const chunk = (text: string) => {
  const bytes = Buffer.from(text);
  return Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]);
};

/** Reads HTTP/1.1 responses off a socket, one at a time (Content-Length bodies, as the API sends). */
function responses(socket: Socket) {
  let buffer = Buffer.alloc(0);
  let wake = () => {};
  let closed = false;
  socket.on('data', (data: Buffer) => {
    buffer = Buffer.concat([buffer, data]);
    wake();
  });
  socket.on('close', () => {
    closed = true;
    wake();
  });
  return async (what: string, timeoutMs = 15_000): Promise<{ status: number; headers: string; body: any }> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end >= 0) {
        const headers = buffer.subarray(0, end).toString('latin1');
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(headers)?.[1] ?? 0);
        if (buffer.length >= end + 4 + length) {
          const body = buffer.subarray(end + 4, end + 4 + length).toString('utf8');
          buffer = buffer.subarray(end + 4 + length);
          return { status: Number(headers.split(' ')[1]), headers, body: body === '' ? null : JSON.parse(body) };
        }
      }
      if (closed) throw new Error(`the connection closed before ${what}`);
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
}

for (const dialect of await dialects()) {
  describe(`a contacts file past the limits on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let port: number;
    let projectId: string;
    const staged = async () => Number((await t.gateway.database.db.selectFrom('contact_import_rows').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    const contacts = async () => Number((await t.gateway.database.db.selectFrom('contacts').select((eb) => eb.fn.countAll().as('n')).where('project_id', '=', projectId).executeTakeFirstOrThrow()).n);

    before(async () => {
      t = await startTestGateway(dialect.name, {}, { limits: { importRows: MAX_ROWS, importBytes: 256 * 1024 } });
      port = Number(new URL(await t.gateway.app.listen({ port: 0, host: '127.0.0.1' })).port);
      const res = await t.gateway.app.inject({ method: 'POST', url: '/v1/projects', headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'Limits', code: 'lim' }) });
      projectId = res.json().id;
    });
    after(async () => t?.close());

    for (const path of ['/v1/contacts/imports', '/v1/contacts/import']) {
      test(`${path}: more rows than the limit answer 413 import_too_large while the upload goes on; nothing staged; the connection serves the next request`, { timeout: 60_000 }, async () => {
        const socket = connect(port, '127.0.0.1');
        await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
        after(() => socket.destroy());
        const next = responses(socket);
        socket.write(
          `POST ${path}?project_id=${projectId} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.apiKey}\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n`,
        );
        // Past the limit in the first chunks; the request is not ended.
        socket.write(chunk('guid,first_name,phone\n' + rows(0, 1000)));
        socket.write(chunk(rows(1000, 600)));
        const refused = await next('the answer to the upload past the limit (before its end)');
        assert.equal(refused.status, 413, JSON.stringify(refused.body));
        assert.equal(refused.body.error.code, 'import_too_large');
        assert.match(refused.body.error.message, new RegExp(`more than ${MAX_ROWS} contacts .*at most ${MAX_ROWS}: split it; nothing was imported \\(import imp_\\w+ is failed\\)`));
        assert.doesNotMatch(refused.headers, /connection: close/i, 'the connection is kept');
        const importId = /import (imp_\w+) is failed/.exec(refused.body.error.message)![1]!;

        // The client sends the rest of its file (3 MB: more than the socket buffers hold, so it must be read):
        // it is read and dropped, and the connection takes the next request.
        for (let i = 0; i < 20; i++) socket.write(chunk(rows(1600 + i * 5000, 5000)));
        socket.write('0\r\n\r\n');
        socket.write(`GET /v1/contacts/imports/${importId} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.apiKey}\r\n\r\n`);
        const job = await next('the answer to the next request on the same connection');
        assert.equal(job.status, 200, JSON.stringify(job.body));
        assert.equal(job.body.status, 'failed');
        assert.match(job.body.error, new RegExp(`at most ${MAX_ROWS}`));
        assert.equal(await staged(), 0, 'none of its rows left staged');
        assert.equal(await contacts(), 0, 'nothing imported');
      });
    }

    test('a file of the limit exactly is imported; a file past the byte limit is refused the same way', { timeout: 60_000 }, async () => {
      const upload = (payload: string) => t.gateway.app.inject({ method: 'POST', url: `/v1/contacts/import?project_id=${projectId}`, headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'text/csv' }, payload });
      const ok = await upload('guid,first_name,phone\n' + rows(0, MAX_ROWS));
      assert.equal(ok.statusCode, 200, ok.body);
      assert.equal(ok.json().rows, MAX_ROWS);
      const big = await upload('guid,first_name,phone,note\n' + Array.from({ length: 150 }, (_, i) => `b-${i},Имя,+7917${String(i).padStart(7, '0')},${'x'.repeat(2000)}\n`).join(''));
      assert.equal(big.statusCode, 413, big.body);
      assert.equal(big.json().error.code, 'import_too_large');
      assert.match(big.json().error.message, /larger than 262144 bytes/);
      assert.equal(await staged(), 0);
      assert.equal(await contacts(), MAX_ROWS, 'only the good file');
    });
  });
}
