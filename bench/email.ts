/**
 * E-mail throughput through the connector's SMTP pool (issue 7: at least 500
 * messages/s to a local SMTP sink). The e-mail connector (nodemailer pool,
 * DKIM off unless --dkim) sends --messages messages, --concurrency at a time,
 * to an smtp-server sink on 127.0.0.1 in a child process (so the sink does
 * not share the bench's event loop); messages/s from the first send to the
 * last acceptance. --runs N reports the median. Last stdout line: JSON.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { parseArgs } from 'node:util';
import { EmailConnector } from '../src/connectors/email/email.ts';
import { segment } from '../src/sms/encoding.ts';

const { values: flags } = parseArgs({
  options: {
    messages: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '200' },
    connections: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
    dkim: { type: 'boolean', default: false },
    sink: { type: 'boolean', default: false },
  },
});

if (flags.sink) {
  // The child: an SMTP sink that takes everything.
  const { SMTPServer } = await import('smtp-server');
  const server = new SMTPServer({ logger: false, authOptional: true, disabledCommands: ['AUTH', 'STARTTLS'], hideDSN: false, onData: (stream, _s, cb) => { stream.resume(); stream.on('end', () => cb()); } });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.server.address() as { port: number }).port }));
} else {
  const total = Number(flags.messages);
  const concurrency = Number(flags.concurrency);
  const sink: ChildProcess = fork(new URL(import.meta.url), ['--sink'], { execArgv: process.execArgv });
  const port = await new Promise<number>((resolve) => sink.once('message', (m: { port: number }) => resolve(m.port)));
  const key = flags.dkim ? generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey : undefined;
  const rates: number[] = [];
  const s = segment('Ваш заказ готов');
  for (let run = 0; run < Number(flags.runs); run++) {
    const c = new EmailConnector({
      id: 'bench', type: 'email', host: '127.0.0.1', port, domain: 'example.com', from: 'noreply@example.com', max_connections: Number(flags.connections),
      ...(key ? { dkim_selector: 's1', secrets: { dkim_private_key: key } } : {}),
    });
    await c.start({ receipt: async () => {}, inbound: async () => {} });
    let next = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        await c.send({ id: `msg_BENCH${run}_${i}`, accountId: 'acc_B', attempt: 1, to: `user${i}@example.org`, from: null, text: 'Ваш заказ готов', encoding: s.encoding, parts: s.parts, trafficType: 'service', validUntil: Date.now() + 60_000, content: { subject: 'Заказ', html: '<p>Ваш заказ <b>готов</b></p>' } });
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    await c.stop();
    rates.push(total / seconds);
    process.stderr.write(`run ${run + 1}: ${total} messages in ${seconds.toFixed(2)} s = ${(total / seconds).toFixed(0)} msg/s\n`);
  }
  sink.kill();
  const median = [...rates].sort((a, b) => a - b)[Math.floor(rates.length / 2)]!;
  console.log(`median ${median.toFixed(0)} msg/s over ${rates.length} runs (${flags.connections} pooled connections, DKIM ${flags.dkim ? 'on' : 'off'})`);
  console.log(JSON.stringify({ bench: 'email', messages: total, connections: Number(flags.connections), dkim: flags.dkim, runs: rates.map((r) => Math.round(r)), median_msg_per_s: Math.round(median) }));
}
