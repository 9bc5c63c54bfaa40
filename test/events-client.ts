import { EventEmitter } from 'node:events';
import http from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** A Server-Sent Events client over a real socket, for the tests of `GET /v1/events/stream`. */
export interface SseClient {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** the body of a refused request (not 200) */
  body: string;
  events: EventSourceMessage[];
  comments: string[];
  retry: number | undefined;
  /** resolves once `check` holds over what has arrived (checked on every event and comment) */
  until(check: (c: SseClient) => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** the response ended (the server closed the stream) */
  ended: Promise<void>;
  /** the client goes away */
  close(): void;
  /** stops reading from the socket (a client that does not read) */
  pause(): void;
}

/** `credential`: an API key, or a cabinet session's cookie token. */
export function openStream(baseUrl: string, credential: string | { sessionCookie: string }, options: { lastEventId?: string; query?: string } = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const changed = new EventEmitter();
    changed.setMaxListeners(100);
    let endedResolve: () => void;
    const ended = new Promise<void>((r) => (endedResolve = r));
    const request = http.get(
      `${baseUrl}/v1/events/stream${options.query ? `?${options.query}` : ''}`,
      { headers: { ...(typeof credential === 'string' ? { authorization: `Bearer ${credential}` } : { cookie: `depesha_session=${credential.sessionCookie}` }), accept: 'text/event-stream', ...(options.lastEventId ? { 'last-event-id': options.lastEventId } : {}) } },
      (response) => {
        const client: SseClient = {
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: '',
          events: [],
          comments: [],
          retry: undefined,
          until(check, what, timeoutMs = 10_000) {
            if (check(client)) return Promise.resolve();
            return new Promise<void>((ok, fail) => {
              const timer = setTimeout(() => {
                changed.off('change', onChange);
                fail(new Error(`timed out waiting for ${what}; got ${client.events.length} events: ${client.events.map((e) => e.event).join(', ')}`));
              }, timeoutMs);
              const onChange = () => {
                if (!check(client)) return;
                clearTimeout(timer);
                changed.off('change', onChange);
                ok();
              };
              changed.on('change', onChange);
            });
          },
          ended,
          close: () => request.destroy(),
          pause: () => response.pause(),
        };
        const parser = createParser({
          onEvent: (e) => {
            client.events.push(e);
            changed.emit('change');
          },
          onComment: (c) => {
            client.comments.push(c);
            changed.emit('change');
          },
          onRetry: (r) => (client.retry = r),
        });
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (client.status === 200 ? parser.feed(chunk) : (client.body += chunk)));
        response.on('end', () => endedResolve());
        response.on('close', () => endedResolve());
        if (client.status === 200) resolve(client);
        else response.on('end', () => resolve(client));
      },
    );
    request.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? endedResolve() : reject(err)));
  });
}

/** The envelope in an event's `data:`. */
export interface EventEnvelope {
  id: string;
  type: string;
  created_at: string;
  data: { object: 'status_change'; message_id: string; status: string; reason: { code: string; description: string; permanent: boolean; provider_code: string | null } | null };
}

export const envelope = (e: EventSourceMessage): EventEnvelope => JSON.parse(e.data) as EventEnvelope;
