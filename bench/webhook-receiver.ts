/**
 * The webhook receiver of bench/webhooks.ts, in a process of its own so that
 * the load generator and the SMSC simulator (in the bench process) do not
 * delay the POSTs' arrival: a customer's endpoint is another system. It
 * answers 204 (503 during an outage), notes the first `message.delivered`
 * POST per number with `Date.now()` (the bench compares it with the
 * simulator's receipt time on the same clock), reports its counts every
 * 250 ms, and the arrival times when asked.
 *
 * Protocol (IPC): → {type:'ready', port}; ← {type:'outage', on}; → {type:'counts', ids, posts, refused};
 * ← {type:'report'} → {type:'report', arrivals: [digits, at][], ids, posts, refused}.
 */
import http from 'node:http';

if (!process.send) throw new Error('bench/webhook-receiver.ts runs as a child of bench/webhooks.ts');
const send = process.send.bind(process);
const webhookAt = new Map<string, number>();
/** message ids whose delivered webhook arrived (numbers can repeat; ids do not) */
const ids = new Set<string>();
let posts = 0;
let refused = 0;
let outage = false;

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    posts++;
    if (outage) {
      refused++;
      res.writeHead(503).end();
      return;
    }
    const at = Date.now();
    const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { type: string; data: { id: string; to: string } };
    if (event.type === 'message.delivered') {
      ids.add(event.data.id);
      const digits = event.data.to.replace(/^\+/, '');
      if (!webhookAt.has(digits)) webhookAt.set(digits, at);
    }
    res.writeHead(204).end();
  });
});
const counts = setInterval(() => send({ type: 'counts', ids: ids.size, posts, refused }), 250);
process.on('message', (m: { type: string; on?: boolean }) => {
  if (m.type === 'outage') outage = m.on === true;
  else if (m.type === 'report') send({ type: 'report', arrivals: [...webhookAt], ids: ids.size, posts, refused });
});
process.on('disconnect', () => {
  clearInterval(counts);
  server.closeAllConnections();
  server.close();
});
server.listen(0, '127.0.0.1', () => send({ type: 'ready', port: (server.address() as { port: number }).port }));
