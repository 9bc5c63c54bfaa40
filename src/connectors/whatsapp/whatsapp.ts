import { createHmac } from 'node:crypto';
import { Type, type Static } from 'typebox';
import type { ReasonCode } from '../../domain/reasons.ts';
import { BaseUrl, ConnectorIdSchema, secretsEnvSchema, secretsSchema } from '../shared/definition.ts';
import { requestJson, secretEquals, wholeMessageIds } from '../shared/http-client.ts';
import { ConnectorError, type CallbackReply, type CallbackRequest, type Connector, type ConnectorContext, type ConnectorManifest, type ConnectorState, type OutboundMessage, type Receipt, type SendResult } from '../types.ts';
import { SingleLink } from '../shared/link.ts';

export const WhatsAppDefinitionSchema = Type.Object(
  {
    id: ConnectorIdSchema,
    type: Type.Literal('whatsapp'),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    /** default https://graph.facebook.com */
    base_url: Type.Optional(BaseUrl),
    /** Graph API version, default v21.0 */
    api_version: Type.Optional(Type.String({ pattern: '^v\\d+\\.\\d+$' })),
    /** the business phone number's id in the WhatsApp Business account */
    phone_number_id: Type.String({ pattern: '^\\d{1,32}$' }),
    /** default language of templates a message names without one */
    template_language: Type.Optional(Type.String({ minLength: 2, maxLength: 16 })),
    /** authentication templates: also pass the first parameter (the code) to the copy-code button */
    otp_button: Type.Optional(Type.Boolean()),
    secrets: Type.Optional(secretsSchema(['access_token', 'app_secret', 'verify_token'] as const)),
    secrets_env: Type.Optional(secretsEnvSchema(['access_token', 'app_secret', 'verify_token'] as const)),
  },
  { additionalProperties: false },
);
export type WhatsAppDefinition = Static<typeof WhatsAppDefinitionSchema>;

export const whatsappManifest: ConnectorManifest = {
  type: 'whatsapp',
  name: 'WhatsApp Cloud API',
  channels: ['whatsapp'],
  wholeMessage: true,
  fields: [
    { name: 'phone_number_id', label: 'Phone number id', type: 'string', required: true, description: 'The id of the business phone number that sends.' },
    { name: 'access_token', label: 'Access token', type: 'secret', required: true, description: 'A system user token with whatsapp_business_messaging.' },
    { name: 'app_secret', label: 'App secret', type: 'secret', required: true, description: 'Verifies the X-Hub-Signature-256 of status webhooks.' },
    { name: 'verify_token', label: 'Verify token', type: 'secret', required: true, description: 'The token entered in the app\'s webhook settings; answered in the GET handshake.' },
  ],
};

/** Cloud API error codes we can name (PROTOCOLS.md, MESSENGERS.md); 132000–132016 are template errors. */
const ERRORS: Record<number, { reason: ReasonCode; retryable: boolean }> = {
  131026: { reason: 'subscriber_unknown', retryable: false },
  131047: { reason: 'content_rejected', retryable: false }, // outside the 24-hour window: only a template may go
  131048: { reason: 'operator_rejected', retryable: false },
  131049: { reason: 'operator_rejected', retryable: false },
  131050: { reason: 'subscriber_blocked', retryable: false },
  131056: { reason: 'operator_throttled', retryable: true },
  130429: { reason: 'operator_throttled', retryable: true },
  131000: { reason: 'operator_error', retryable: true },
  131016: { reason: 'operator_unavailable', retryable: true },
  190: { reason: 'operator_unavailable', retryable: true },
  100: { reason: 'operator_rejected', retryable: false },
};

function meaning(code: number | undefined): { reason: ReasonCode; retryable: boolean } {
  if (code === undefined) return { reason: 'operator_rejected', retryable: false };
  if (code >= 132000 && code <= 132016) return { reason: 'content_rejected', retryable: false };
  return ERRORS[code] ?? { reason: 'operator_rejected', retryable: false };
}

interface StatusReport {
  id?: string;
  status?: string;
  timestamp?: string;
  errors?: { code?: number; title?: string }[];
}

/**
 * WhatsApp Cloud API: template messages (authentication templates get the
 * code as their parameter) and free text inside the 24-hour window; status
 * webhooks signed with the app secret, and the GET verification handshake.
 */
export class WhatsAppConnector implements Connector {
  readonly id: string;
  readonly manifest = whatsappManifest;
  readonly #url: string;
  readonly #secrets: NonNullable<WhatsAppDefinition['secrets']>;
  readonly #language: string;
  readonly #otpButton: boolean;
  readonly #link = new SingleLink();

  constructor(definition: WhatsAppDefinition) {
    this.id = definition.id;
    const base = (definition.base_url ?? 'https://graph.facebook.com').replace(/\/$/, '');
    this.#url = `${base}/${definition.api_version ?? 'v21.0'}/${definition.phone_number_id}/messages`;
    this.#secrets = definition.secrets ?? {};
    this.#language = definition.template_language ?? 'ru';
    this.#otpButton = definition.otp_button ?? false;
  }

  async start(context: ConnectorContext): Promise<void> {
    this.#link.start(context);
  }

  async stop(): Promise<void> {
    this.#link.stop();
  }

  state(): ConnectorState {
    return this.#link.state(this.id, 'whatsapp');
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const to = message.to.replace(/^\+/, '');
    const template = message.content?.template;
    const body = template
      ? {
          messaging_product: 'whatsapp',
          to,
          type: 'template',
          template: {
            name: template.name,
            language: { code: template.language ?? this.#language },
            components: [
              ...(template.params?.length ? [{ type: 'body', parameters: template.params.map((text) => ({ type: 'text', text })) }] : []),
              ...(this.#otpButton && template.params?.[0] ? [{ type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: template.params[0] }] }] : []),
            ],
          },
        }
      : { messaging_product: 'whatsapp', to, type: 'text', text: { body: message.text } };
    this.#link.inFlight++;
    let reply;
    try {
      reply = await requestJson(this.id, this.#url, { body, headers: { authorization: `Bearer ${this.#secrets.access_token ?? ''}` } });
    } finally {
      this.#link.inFlight--;
    }
    const answer = reply.json as { messages?: { id?: string }[]; error?: { code?: number; message?: string } } | undefined;
    const wamid = answer?.messages?.[0]?.id;
    if (reply.status === 200 && wamid) return { providerIds: wholeMessageIds(message.parts, wamid) };
    if (reply.status >= 500 && !answer?.error) throw new ConnectorError(`${this.id}: HTTP ${reply.status}`, { retryable: true, reason: 'operator_error', providerCode: `http_${reply.status}` });
    const code = answer?.error?.code;
    const m = reply.status === 429 && code === undefined ? { reason: 'operator_throttled' as const, retryable: true } : meaning(code);
    throw new ConnectorError(`${this.id}: ${answer?.error?.message ?? `HTTP ${reply.status}`}`, { retryable: m.retryable, reason: m.reason, providerCode: String(code ?? `http_${reply.status}`) });
  }

  async callback(request: CallbackRequest): Promise<CallbackReply> {
    if (request.method === 'GET') {
      // The subscription handshake: echo the challenge when the verify token is ours.
      const ok = request.query['hub.mode'] === 'subscribe' && this.#secrets.verify_token !== undefined && secretEquals(request.query['hub.verify_token'] ?? '', this.#secrets.verify_token);
      return ok ? { status: 200, body: request.query['hub.challenge'] ?? '' } : { status: 403, body: 'verify token mismatch' };
    }
    const expected = `sha256=${createHmac('sha256', this.#secrets.app_secret ?? '').update(request.body).digest('hex')}`;
    if (!this.#secrets.app_secret || !secretEquals(request.headers['x-hub-signature-256'] ?? '', expected)) return { status: 401, body: 'bad signature' };
    let body: { entry?: { changes?: { value?: { statuses?: StatusReport[] } }[] }[] };
    try {
      body = JSON.parse(request.body);
    } catch {
      return { status: 400, body: 'not JSON' };
    }
    const receipts: Receipt[] = [];
    for (const entry of body.entry ?? []) for (const change of entry.changes ?? []) for (const s of change.value?.statuses ?? []) {
      const r = this.parseReceipt(s);
      if (r) receipts.push(r);
    }
    if (receipts.length > 0 && (!this.#link.context || this.#link.stopped)) return { status: 503, body: 'not running' };
    await Promise.all(receipts.map((r) => this.#link.context!.receipt(r)));
    return { status: 200, body: 'OK' };
  }

  /** One entry of `statuses` → Receipt: delivered, read (which implies delivered), failed with the error's reason; sent is interim. */
  parseReceipt(raw: unknown): Receipt | null {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return null;
    const s = raw as StatusReport;
    if (typeof s.id !== 'string' || typeof s.status !== 'string') return null;
    const at = s.timestamp && /^\d+$/.test(s.timestamp) ? Number(s.timestamp) * 1000 : Date.now();
    const base = { connectorId: this.id, providerMessageId: s.id, at, raw: JSON.stringify(raw) };
    if (s.status === 'delivered' || s.status === 'read') return { ...base, status: s.status };
    if (s.status !== 'failed') return null;
    const code = s.errors?.[0]?.code;
    return { ...base, status: 'undelivered', reason: { code: meaning(code).reason, providerCode: code === undefined ? 'failed' : String(code), detail: s.errors?.[0]?.title } };
  }
}
