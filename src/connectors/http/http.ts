import { createHmac } from 'node:crypto';
import { Liquid, type Template } from 'liquidjs';
import type { FailureReason } from '../../domain/reasons.ts';
import { ConnectorError, type CallbackReply, type CallbackRequest, type Connector, type ConnectorContext, type ConnectorManifest, type ConnectorState, type OpenPart, type OpenPartsQuery, type OutboundMessage, type Receipt, type SendResult } from '../types.ts';
import { DEFAULT_HTTP_TIMEOUT_MS, secretEquals as equal, wholeMessageIds } from '../shared/http-client.ts';
import { atPath, asText, readerFor, type Reader } from './extract.ts';
import { resolveHttpDefinition, type ResolvedHttp } from './presets.ts';
import type { CodeMeaning, HttpDefinition, PollSpec, RequestSpec } from './spec.ts';
import { SingleLink } from '../shared/link.ts';

const liquid = new Liquid({ strictFilters: true, ownPropertyOnly: true });

/** Status requests, compiled. */
interface Poll {
  spec: PollSpec;
  request: CompiledRequest;
  read: Reader;
}

/** A request spec with its templates parsed once. */
interface CompiledRequest {
  method: 'GET' | 'POST';
  url: Template[];
  query: [string, Template[]][];
  headers: [string, Template[]][];
  auth: { type: 'basic'; username: Template[]; password: Template[] } | { type: 'bearer'; token: Template[] } | undefined;
  body: 'none' | 'form' | 'json';
  form: [string, Template[]][];
  json: Template[] | undefined;
  timeoutMs: number;
}

const compileMap = (m: Record<string, string> | undefined): [string, Template[]][] => Object.entries(m ?? {}).map(([k, v]) => [k, liquid.parse(v)]);

function compileRequest(r: RequestSpec): CompiledRequest {
  return {
    method: r.method,
    url: liquid.parse(r.url),
    query: compileMap(r.query),
    headers: compileMap(r.headers),
    auth: r.auth?.type === 'basic' ? { type: 'basic', username: liquid.parse(r.auth.username), password: liquid.parse(r.auth.password) } : r.auth?.type === 'bearer' ? { type: 'bearer', token: liquid.parse(r.auth.token) } : undefined,
    body: r.body ?? (r.json !== undefined ? 'json' : r.form !== undefined ? 'form' : 'none'),
    form: compileMap(r.form),
    json: r.json === undefined ? undefined : liquid.parse(r.json),
    timeoutMs: r.timeout_ms ?? DEFAULT_HTTP_TIMEOUT_MS,
  };
}

/** The URL, method, headers and body of one request, its templates rendered with `scope`. */
function renderRequest(req: CompiledRequest, scope: Record<string, unknown>): { url: URL; init: RequestInit } {
  const render = (t: Template[]) => liquid.renderSync(t, scope) as string;
  const url = new URL(render(req.url));
  for (const [k, t] of req.query) {
    const v = render(t);
    if (v !== '') url.searchParams.set(k, v); // an empty value (an unset sender) is left out
  }
  const headers: Record<string, string> = {};
  for (const [k, t] of req.headers) headers[k] = render(t);
  if (req.auth?.type === 'basic') headers.authorization = `Basic ${Buffer.from(`${render(req.auth.username)}:${render(req.auth.password)}`).toString('base64')}`;
  if (req.auth?.type === 'bearer') headers.authorization = `Bearer ${render(req.auth.token)}`;
  let body: string | undefined;
  if (req.body === 'form') {
    const form = new URLSearchParams();
    for (const [k, t] of req.form) {
      const v = render(t);
      if (v !== '') form.set(k, v);
    }
    body = form.toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (req.body === 'json' && req.json) {
    body = render(req.json);
    headers['content-type'] = 'application/json';
  }
  return { url, init: { method: req.method, headers, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(req.timeoutMs) } };
}

/** Provider statuses in a report that settle a message, and the reason each implies when the report names none we know. */
const DEFAULT_REASON: Record<'undelivered' | 'expired' | 'rejected', FailureReason['code']> = { undelivered: 'unknown', expired: 'validity_expired', rejected: 'operator_rejected' };

/**
 * The generic HTTP aggregator connector: everything provider-specific (URL,
 * auth, body, where the id is, what codes mean, how reports look) comes from
 * its manifest (spec.ts), usually a preset. The provider takes the whole text
 * and splits it itself, so a message has one provider id.
 */
export class HttpConnector implements Connector {
  readonly id: string;
  readonly manifest: ConnectorManifest;
  readonly #spec: ResolvedHttp;
  readonly #send: CompiledRequest;
  readonly #read: Reader;
  readonly #link = new SingleLink();
  #poll: Poll | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  /** provider id → when it was last asked about (a restart asks about every open part once, at once) */
  readonly #asked = new Map<string, number>();
  #pollDetail: string | null = null;

  constructor(definition: HttpDefinition) {
    this.id = definition.id;
    this.#spec = resolveHttpDefinition(definition);
    const s = this.#spec;
    this.manifest = {
      type: 'http',
      name: s.name,
      channels: s.channels,
      wholeMessage: true,
      fields: [
        { name: 'base_url', label: 'Base URL', type: 'string', required: false, default: s.baseUrl, description: "The aggregator's API address." },
        { name: 'public_url', label: 'Public URL', type: 'string', required: false, description: 'Our address as the aggregator reaches it; status reports go to <public_url>/v1/callbacks/<id>.' },
        ...s.fields.map((f) => ({ name: f.name, label: f.label, type: f.secret ? ('secret' as const) : ('string' as const), required: true, description: f.description })),
      ],
    };
    this.#send = compileRequest(s.send);
    this.#read = readerFor(s.response.format);
    if (s.poll) this.#poll = { spec: s.poll, request: compileRequest(s.poll.request), read: readerFor(s.poll.response.format) };
  }

  async start(context: ConnectorContext): Promise<void> {
    this.#link.start(context);
    if (this.#poll && context.openParts) this.#nextPoll();
  }

  async stop(): Promise<void> {
    this.#link.stop();
    clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
  }

  state(): ConnectorState {
    return this.#link.state(this.id, 'http', this.#pollDetail);
  }

  #nextPoll(): void {
    if (this.#link.stopped || !this.#poll) return;
    this.#pollTimer = setTimeout(() => {
      this.pollOnce().then(
        () => this.#nextPoll(),
        (err: unknown) => {
          this.#pollDetail = `status polling failed: ${(err as Error).message}`;
          this.#nextPoll();
        },
      );
    }, (this.#poll.spec.interval_seconds ?? 60) * 1000);
    this.#pollTimer.unref();
  }

  /**
   * One round of status requests: every part this connector sent that is
   * still open (read from the store), sent at least one interval ago and
   * not longer ago than the give-up age, and not asked about within the
   * interval. Final statuses go to the pipeline as receipts; interim ones
   * are asked again next round. Resolves when the round is done.
   */
  async pollOnce(now = Date.now()): Promise<void> {
    const poll = this.#poll;
    const context = this.#link.context;
    if (!poll || !context?.openParts || this.#link.stopped) return;
    const interval = (poll.spec.interval_seconds ?? 60) * 1000;
    const giveUp = (poll.spec.give_up_after_seconds ?? 86_400) * 1000;
    const concurrency = poll.spec.concurrency ?? 4;
    const seen = new Set<string>();
    let after: OpenPartsQuery['after'];
    let failures = 0;
    let asked = 0;
    for (;;) {
      const page = await context.openParts({ connectorId: this.id, sentFrom: now - giveUp, sentBefore: now - interval + 1, after, limit: 200 });
      const due = page.filter((p) => {
        if (seen.has(p.providerMessageId)) return false; // the parts of one whole message share the id
        seen.add(p.providerMessageId);
        return now - (this.#asked.get(p.providerMessageId) ?? 0) >= interval;
      });
      for (let i = 0; i < due.length; i += concurrency) {
        const results = await Promise.all(due.slice(i, i + concurrency).map((p) => this.#askStatus(poll, context, p, now)));
        asked += results.length;
        failures += results.filter((ok) => !ok).length;
        if (this.#link.stopped) return;
      }
      if (page.length < 200) break;
      const last = page.at(-1)!;
      after = { sentAt: last.sentAt, messageId: last.messageId, partIndex: last.partIndex };
    }
    for (const [id, at] of this.#asked) if (now - at > giveUp) this.#asked.delete(id);
    this.#pollDetail = failures > 0 ? `status polling: ${failures} of ${asked} status requests failed` : null;
  }

  /** One status request; false when the provider did not answer usably (asked again next round). */
  async #askStatus(poll: Poll, context: ConnectorContext, part: OpenPart, now: number): Promise<boolean> {
    const scope = this.#scope(null, part);
    let reply: unknown;
    let text: string;
    try {
      const { url, init } = renderRequest(poll.request, scope);
      const res = await fetch(url, init);
      text = await res.text();
      if (res.status >= 300) return false;
      reply = text;
      if (poll.spec.response.format === 'json') reply = JSON.parse(text);
    } catch {
      return false;
    }
    this.#asked.set(part.providerMessageId, now);
    const providerStatus = poll.read(reply, poll.spec.response.status);
    if (providerStatus === undefined) return false;
    const ours = poll.spec.statuses[providerStatus];
    if (ours === undefined || ours === 'ignore') return true;
    const code = poll.spec.response.error_code === undefined ? undefined : poll.read(reply, poll.spec.response.error_code);
    await context.receipt(this.#receipt(part.providerMessageId, providerStatus, ours, code, text));
    return true;
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const { url, init } = renderRequest(this.#send, this.#scope(message));
    this.#link.inFlight++;
    let status: number;
    let text: string;
    try {
      const res = await fetch(url, init);
      status = res.status;
      text = await res.text();
    } catch (err) {
      throw new ConnectorError(`${this.id}: the aggregator did not answer: ${(err as Error).message}`, { retryable: true, reason: 'operator_unavailable', cause: err });
    } finally {
      this.#link.inFlight--;
    }
    if (status === 429) throw new ConnectorError(`${this.id}: throttled (HTTP 429)`, { retryable: true, reason: 'operator_throttled', providerCode: 'http_429' });
    if (status === 401 || status === 403) throw new ConnectorError(`${this.id}: credentials refused (HTTP ${status})`, { retryable: true, reason: 'operator_unavailable', providerCode: `http_${status}` });
    if (status >= 500) throw new ConnectorError(`${this.id}: aggregator error (HTTP ${status})`, { retryable: true, reason: 'operator_error', providerCode: `http_${status}` });

    const spec = this.#spec.response;
    let reply: unknown = text;
    if (spec.format === 'json') {
      try {
        reply = JSON.parse(text);
      } catch {
        // Whether it took the message is unknown: a retry may duplicate it, as after an SMPP timeout.
        throw new ConnectorError(`${this.id}: reply is not JSON (HTTP ${status})`, { retryable: true, reason: 'operator_error', providerCode: `http_${status}` });
      }
    }
    // With a success check, only it decides (an OK reply may carry a code 0); without one, an error code present means failure.
    const successValue = spec.success === undefined ? undefined : this.#read(reply, spec.success.path);
    const errorCode = (): string | undefined => (spec.error_code === undefined ? undefined : this.#read(reply, spec.error_code));
    const succeeded = status < 300 && (spec.success === undefined ? errorCode() === undefined : spec.success.equals === undefined ? successValue !== undefined : successValue === String(spec.success.equals));
    if (!succeeded) {
      const code = errorCode() ?? (successValue === undefined || status >= 300 ? `http_${status}` : successValue);
      const meaning: CodeMeaning = this.#spec.sendErrors[code] ?? this.#spec.defaultError;
      const detail = spec.error_message === undefined ? undefined : this.#read(reply, spec.error_message);
      throw new ConnectorError(`${this.id}: refused (${code})${detail ? `: ${detail}` : ''}`, { retryable: !meaning.permanent, reason: meaning.reason, providerCode: code });
    }
    const providerId = this.#read(reply, spec.id);
    if (providerId === undefined || providerId === '') {
      throw new ConnectorError(`${this.id}: the reply has no message id at ${spec.id}`, { retryable: true, reason: 'operator_error' });
    }
    return { providerIds: wholeMessageIds(message.parts, providerId) };
  }

  /** What the templates see: the message being sent, or the open part being asked about. */
  #scope(message: OutboundMessage | null, part?: OpenPart): Record<string, unknown> {
    const s = this.#spec;
    if (!message) {
      const to = part?.recipient ?? '';
      return {
        message: { id: part?.messageId ?? '', provider_id: part?.providerMessageId ?? '', to, to_digits: to.replace(/^\+/, '') },
        secrets: s.secrets,
        settings: s.settings,
        base_url: s.baseUrl,
        callback_url: s.callbackUrl,
      };
    }
    return {
      message: {
        provider_id: '',
        id: message.id,
        to: message.to,
        to_digits: message.to.replace(/^\+/, ''),
        from: message.from ?? s.settings.sender ?? '',
        text: message.text,
        channel: message.channel ?? 'sms',
        parts: message.parts.length,
        traffic_type: message.trafficType,
        valid_seconds: Math.max(0, Math.round((message.validUntil - Date.now()) / 1000)),
        subject: message.content?.subject ?? '',
        html: message.content?.html ?? '',
        template: message.content?.template ?? null,
      },
      secrets: s.secrets,
      settings: s.settings,
      base_url: s.baseUrl,
      callback_url: s.callbackUrl,
    };
  }

  async callback(request: CallbackRequest): Promise<CallbackReply> {
    const spec = this.#spec.callback;
    if (!spec) return { status: 404, body: 'this connector takes no status reports' };
    if (!this.#authentic(request)) return { status: 401, body: 'signature or token missing or wrong' };
    let body: unknown;
    if (spec.format === 'query') body = request.query;
    else if (spec.format === 'form') body = Object.fromEntries(new URLSearchParams(request.body));
    else {
      try {
        body = JSON.parse(request.body);
      } catch {
        return { status: 400, body: 'not JSON' };
      }
    }
    const items = spec.items === undefined ? [body] : atPath(body, spec.items);
    const receipts = (Array.isArray(items) ? items : []).map((item) => this.parseReceipt(item)).filter((r): r is Receipt => r !== null);
    if (!this.#link.context || this.#link.stopped) return { status: 503, body: 'not running' };
    // Acknowledged only once recorded: on an error the provider sends the report again.
    await Promise.all(receipts.map((r) => this.#link.context!.receipt(r)));
    return { status: spec.reply?.status ?? 200, body: spec.reply?.body ?? 'OK', contentType: 'text/plain' };
  }

  #authentic(request: CallbackRequest): boolean {
    const spec = this.#spec.callback!;
    const secret = this.#spec.secrets.callback_secret;
    if (!secret) return false; // no secret configured: nothing can prove a report is the provider's
    if (spec.auth.type === 'token') return equal(request.query[spec.auth.query] ?? '', secret);
    const given = request.headers[spec.auth.header.toLowerCase()] ?? '';
    const mac = createHmac('sha256', secret).update(request.body).digest(spec.auth.encoding);
    return equal(given, (spec.auth.prefix ?? '') + mac);
  }

  /** One status report (a parsed JSON object or form) → Receipt; null when it is not one we can read. */
  parseReceipt(raw: unknown): Receipt | null {
    const spec = this.#spec.callback;
    if (!spec || raw === null || typeof raw !== 'object' || Array.isArray(raw)) return null;
    const providerMessageId = asText(atPath(raw, spec.id));
    const providerStatus = asText(atPath(raw, spec.status));
    if (!providerMessageId || providerStatus === undefined) return null;
    const ours = spec.statuses[providerStatus];
    if (ours === undefined || ours === 'ignore') return null;
    const code = spec.error_code === undefined ? undefined : asText(atPath(raw, spec.error_code));
    return this.#receipt(providerMessageId, providerStatus, ours, code, JSON.stringify(raw));
  }

  /** A final provider status (from a report or a status request) → Receipt, the error code's reason from `status_errors`. */
  #receipt(providerMessageId: string, providerStatus: string, ours: 'delivered' | 'read' | 'undelivered' | 'expired' | 'rejected', code: string | undefined, raw: string): Receipt {
    const at = Date.now();
    if (ours === 'delivered' || ours === 'read') return { connectorId: this.id, providerMessageId, status: ours, at, raw };
    const known = code === undefined ? undefined : this.#spec.statusErrors[code];
    const providerCode = `status:${providerStatus}${code === undefined ? '' : ` err:${code}`}`;
    return { connectorId: this.id, providerMessageId, status: ours, reason: { code: known?.reason ?? DEFAULT_REASON[ours], providerCode }, at, raw };
  }
}
