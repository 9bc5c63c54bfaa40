import { parentPort } from 'node:worker_threads';
import { postOnce, type PostRequest } from './poster.ts';

/** The webhook poster's thread: POSTs what the delivery thread signed, answers with the outcome. */
const port = parentPort;
if (!port) throw new Error('poster-thread.ts runs as a worker thread');
port.on('message', (m: { id: number; request: PostRequest }) => {
  void postOnce(m.request).then((outcome) => port.postMessage({ id: m.id, outcome }));
});
