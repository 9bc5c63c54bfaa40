/**
 * The HTTP side of webhook posting (undici), loaded only where requests go
 * out: the poster thread, or a test's direct poster. The other threads load
 * `poster.ts` alone, without the HTTP client.
 */
import { Agent, fetch, type Dispatcher } from 'undici';
import { guardedLookup, isBlockedAddress, literalAddress } from './address-guard.ts';
import { EndpointQueues, SKIPPED, type Outcome, type Poster, type PosterOptions, type PostRequest } from './poster.ts';

const EXCERPT_BYTES = 1024;

/**
 * Where requests go out: with private addresses refused, every name is
 * resolved through the guard at connect time (so re-pointing a name later
 * does not get around it).
 */
export function webhookDispatcher(options: PosterOptions): Dispatcher {
  return options.allowPrivateAddresses ? new Agent() : new Agent({ connect: { lookup: guardedLookup } });
}

/** Sends on this thread's event loop. */
export class DirectPoster implements Poster {
  readonly #abort = new AbortController();
  readonly #options: PosterOptions;
  readonly #dispatcher: Dispatcher;
  readonly #queues: EndpointQueues;

  constructor(options: PosterOptions = { allowPrivateAddresses: false }) {
    this.#options = options;
    this.#dispatcher = webhookDispatcher(options);
    this.#queues = new EndpointQueues(async (request) => {
      if (this.#abort.signal.aborted) return undefined;
      const outcome = await postOnce(request, this.#dispatcher, this.#options, this.#abort.signal);
      return this.#abort.signal.aborted ? undefined : outcome;
    });
  }

  post(request: PostRequest): Promise<Outcome | typeof SKIPPED | undefined> {
    return this.#queues.post(request);
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#dispatcher.close();
  }
}

/**
 * One POST: a 2xx is success; anything else, a timeout, a refused connection
 * or an address webhooks may not reach is a failure with its reason.
 */
export async function postOnce(request: PostRequest, dispatcher: Dispatcher, options: PosterOptions, stop?: AbortSignal): Promise<Outcome> {
  const started = performance.now();
  const latency = () => Math.round(performance.now() - started);
  const timeout = AbortSignal.timeout(request.timeoutMs);
  try {
    const literal = options.allowPrivateAddresses ? undefined : literalAddress(new URL(request.url));
    // A literal address is connected to without a lookup, so the guard's lookup never sees it.
    if (literal !== undefined && isBlockedAddress(literal)) {
      return { ok: false, statusCode: null, excerpt: null, error: `EBLOCKEDADDRESS: ${literal} is an address webhooks may not reach (private, loopback or link-local); an operator may allow them with webhooks.allow_private_addresses`, latencyMs: latency() };
    }
    const res = await fetch(request.url, {
      dispatcher,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'Depesha-Webhooks/1', ...request.headers },
      body: request.body,
      redirect: 'manual',
      signal: stop ? AbortSignal.any([timeout, stop]) : timeout,
    });
    const excerpt = await readExcerpt(res);
    const ok = res.status >= 200 && res.status < 300;
    return { ok, statusCode: res.status, excerpt, error: ok ? null : `answered ${res.status}`, latencyMs: latency() };
  } catch (err) {
    return { ok: false, statusCode: null, excerpt: null, error: describeFailure(err, request.timeoutMs), latencyMs: latency() };
  }
}

/** The first 1 KB of the answer, as text; the rest is not read. */
async function readExcerpt(res: Awaited<ReturnType<typeof fetch>>): Promise<string | null> {
  if (!res.body) return null;
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < EXCERPT_BYTES) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
  }
  await reader.cancel().catch(() => {});
  if (size === 0) return null;
  return Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString('utf8');
}

function describeFailure(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  if (e.cause?.code) return `${e.cause.code}${e.cause.message ? `: ${e.cause.message}` : ''}`;
  return e.message ?? String(err);
}
