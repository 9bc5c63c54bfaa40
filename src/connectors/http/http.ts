import { createHmac } from 'node:crypto';
import { Liquid, type Template } from 'liquidjs';
import type { FailureReason } from '../../domain/reasons.ts';
import { ConnectorError, type CallbackReply, type CallbackRequest, type Connector, type ConnectorContext, type ConnectorManifest, type ConnectorState, type OutboundMessage, type Receipt, type SendResult } from '../types.ts';
import { secretEquals as equal, wholeMessageIds } from '../shared/http-client.ts';
import { atPath, asText, readerFor, type Reader } from './extract.ts';
import { resolveHttpDefinition, type ResolvedHttp } from './presets.ts';
import type { CodeMeaning, HttpDefinition } from './spec.ts';
import { SingleLink } from '../shared/link.ts';

const liquid = new Liquid({ strictFilters: true, ownPropertyOnly: true });

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
    const r = s.send;
    this.#send = {
      method: r.method,
      url: liquid.parse(r.url),
      query: compileMap(r.query),
      headers: compileMap(r.headers),
      auth: r.auth?.type === 'basic' ? { type: 'basic', username: liquid.parse(r.auth.username), password: liquid.parse(r.auth.password) } : r.auth?.type === 'bearer' ? { type: 'bearer', token: liquid.parse(r.auth.token) } : undefined,
      body: r.body ?? (r.json !== undefined ? 'json' : r.form !== undefined ? 'form' : 'none'),
      form: compileMap(r.form),
      json: r.json === undefined ? undefined : liquid.parse(r.json),
      timeoutMs: r.timeout_ms ?? 15_000,
    };
    this.#read = readerFor(s.response.format);
  }

  async start(context: ConnectorContext): Promise<void> {
    this.#link.start(context);
  }

  async stop(): Promise<void> {
    this.#link.stop();
  }

  state(): ConnectorState {
    return this.#link.state(this.id, 'http');
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const scope = this.#scope(message);
    const render = (t: Template[]) => liquid.renderSync(t, scope) as string;
    const req = this.#send;
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

    this.#link.inFlight++;
    let status: number;
    let text: string;
    try {
      const res = await fetch(url, { method: req.method, headers, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(req.timeoutMs) });
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

  /** What the templates see. */
  #scope(message: OutboundMessage): Record<string, unknown> {
    const s = this.#spec;
    return {
      message: {
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
    const at = Date.now();
    const rawText = JSON.stringify(raw);
    if (ours === 'delivered' || ours === 'read') return { connectorId: this.id, providerMessageId, status: 'delivered', at, raw: rawText };
    const code = spec.error_code === undefined ? undefined : asText(atPath(raw, spec.error_code));
    const known = code === undefined ? undefined : this.#spec.statusErrors[code];
    const providerCode = `status:${providerStatus}${code === undefined ? '' : ` err:${code}`}`;
    return { connectorId: this.id, providerMessageId, status: ours, reason: { code: known?.reason ?? DEFAULT_REASON[ours], providerCode }, at, raw: rawText };
  }
}
