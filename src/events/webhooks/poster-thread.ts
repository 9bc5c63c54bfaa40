import { parentPort, workerData } from 'node:worker_threads';
import { EndpointQueues, type PosterOptions, type PostRequest } from './poster.ts';
import { postOnce, webhookDispatcher } from './poster-http.ts';

/** The webhook poster's thread: POSTs what the delivery thread signed (each endpoint's limit kept here), answers with the outcome. */
const port = parentPort;
if (!port) throw new Error('poster-thread.ts runs as a worker thread');
const options = workerData as PosterOptions;
const dispatcher = webhookDispatcher(options);
const queues = new EndpointQueues((request) => postOnce(request, dispatcher, options));
port.on('message', (m: { id: number; request: PostRequest }) => {
  void queues.post(m.request).then((outcome) => port.postMessage({ id: m.id, outcome }));
});
