import { createHash, createHmac } from 'node:crypto';
import { Type, type Static } from 'typebox';
import type { FailureReason, ReasonCode } from '../../domain/reasons.ts';
import { BaseUrl, ConnectorIdSchema, secretsEnvSchema, secretsSchema } from '../shared/definition.ts';
import { requestJson, secretEquals, wholeMessageIds, type ProviderReply } from '../shared/http-client.ts';
import { ConnectorError, type CallbackReply, type CallbackRequest, type Connector, type ConnectorContext, type ConnectorManifest, type ConnectorState, type OutboundMessage, type Receipt, type SendResult } from '../types.ts';
import { SingleLink } from '../shared/link.ts';

export const TelegramGatewayDefinitionSchema = Type.Object(
  {
    id: ConnectorIdSchema,
    type: Type.Literal('telegram_gateway'),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    /** default https://gatewayapi.telegram.org */
    base_url: Type.Optional(BaseUrl),
    /** our public address: status reports go to <public_url>/v1/callbacks/<id> */
    public_url: Type.Optional(BaseUrl),
    /** ask checkSendAbility first, so a number that cannot get codes fails at once (default true) */
    check_send_ability: Type.Optional(Type.Boolean()),
    /** a verified Telegram channel the codes are sent from */
    sender_username: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    secrets: Type.Optional(secretsSchema(['token'] as const)),
    secrets_env: Type.Optional(secretsEnvSchema(['token'] as const)),
  },
  { additionalProperties: false },
);
export type TelegramGatewayDefinition = Static<typeof TelegramGatewayDefinitionSchema>;

export const telegramGatewayManifest: ConnectorManifest = {
  type: 'telegram_gateway',
  name: 'Telegram Gateway (verification codes)',
  channels: ['telegram'],
  wholeMessage: true,
  fields: [
    { name: 'token', label: 'API token', type: 'secret', required: true, description: 'The Gateway API token from the Telegram Gateway account.' },
    { name: 'public_url', label: 'Public URL', type: 'string', required: false, description: 'Our address as Telegram reaches it, for status reports.' },
    { name: 'check_send_ability', label: 'Check send ability', type: 'boolean', required: false, default: true, description: 'Ask checkSendAbility before sending, so a number that cannot get codes fails at once.' },
  ],
};

/** The code is what Telegram sends: the first run of 4–8 digits in the text. */
const CODE_RE = /(?<!\d)(\d{4,8})(?!\d)/;

/** Gateway error strings we can name; the rest are operator_rejected. */
const ERRORS: Record<string, { reason: ReasonCode; retryable: boolean }> = {
  PHONE_NUMBER_INVALID: { reason: 'invalid_destination', retryable: false },
  PHONE_NUMBER_NOT_AVAILABLE: { reason: 'subscriber_unknown', retryable: false },
  ACCESS_TOKEN_INVALID: { reason: 'operator_unavailable', retryable: true },
  ACCESS_TOKEN_REQUIRED: { reason: 'operator_unavailable', retryable: true },
  BALANCE_NOT_ENOUGH: { reason: 'operator_unavailable', retryable: true },
  CODE_INVALID: { reason: 'content_rejected', retryable: false },
};

interface RequestStatus {
  request_id?: string;
  phone_number?: string;
  payload?: string;
  delivery_status?: { status?: string; updated_at?: number };
}

/**
 * Verification codes delivered by Telegram itself (gatewayapi.telegram.org):
 * checkSendAbility, sendVerificationMessage with our callback URL, status
 * reports signed with the token, and revokeVerificationMessage.
 */
export class TelegramGatewayConnector implements Connector {
  readonly id: string;
  readonly manifest = telegramGatewayManifest;
  readonly #base: string;
  readonly #token: string;
  readonly #callbackUrl: string | undefined;
  readonly #check: boolean;
  readonly #senderUsername: string | undefined;
  readonly #link = new SingleLink();

  constructor(definition: TelegramGatewayDefinition) {
    this.id = definition.id;
    this.#base = (definition.base_url ?? 'https://gatewayapi.telegram.org').replace(/\/$/, '');
    this.#token = definition.secrets?.token ?? '';
    this.#callbackUrl = definition.public_url ? `${definition.public_url.replace(/\/$/, '')}/v1/callbacks/${encodeURIComponent(definition.id)}` : undefined;
    this.#check = definition.check_send_ability ?? true;
    this.#senderUsername = definition.sender_username;
  }

  async start(context: ConnectorContext): Promise<void> {
    this.#link.start(context);
  }

  async stop(): Promise<void> {
    this.#link.stop();
  }

  state(): ConnectorState {
    return this.#link.state(this.id, 'telegram_gateway');
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    if (!message.to.startsWith('+')) throw new ConnectorError(`${this.id}: Telegram Gateway needs a phone number`, { retryable: false, reason: 'invalid_destination' });
    const code = CODE_RE.exec(message.text)?.[1];
    if (!code) throw new ConnectorError(`${this.id}: Telegram Gateway sends codes only; the text holds no code of 4–8 digits`, { retryable: false, reason: 'content_rejected' });
    const phone = message.to.slice(1);
    let requestId: string | undefined;
    if (this.#check) requestId = (await this.#call('checkSendAbility', { phone_number: phone })).request_id;
    const ttl = Math.min(3600, Math.max(30, Math.round((message.validUntil - Date.now()) / 1000)));
    const status = await this.#call('sendVerificationMessage', {
      phone_number: phone,
      code,
      ttl,
      payload: message.id,
      ...(requestId ? { request_id: requestId } : {}),
      ...(this.#callbackUrl ? { callback_url: this.#callbackUrl } : {}),
      ...(this.#senderUsername ? { sender_username: this.#senderUsername } : {}),
    });
    if (!status.request_id) throw new ConnectorError(`${this.id}: the answer has no request_id`, { retryable: true, reason: 'operator_error' });
    return { providerIds: wholeMessageIds(message.parts, status.request_id) };
  }

  /** Withdraws a code sent earlier (the user verified another way, or the cascade moved on). Resolves true when Telegram revoked it. */
  async revoke(requestId: string): Promise<boolean> {
    const reply = await this.#post('revokeVerificationMessage', { request_id: requestId });
    const body = reply.json as { ok?: boolean; result?: boolean } | undefined;
    return body?.ok === true && body.result === true;
  }

  async #call(method: string, body: Record<string, unknown>): Promise<RequestStatus> {
    const reply = await this.#post(method, body);
    const answer = reply.json as { ok?: boolean; result?: RequestStatus; error?: string } | undefined;
    if (reply.status === 200 && answer?.ok === true && answer.result) return answer.result;
    if (reply.status === 429) throw new ConnectorError(`${this.id}: ${method}: throttled`, { retryable: true, reason: 'operator_throttled', providerCode: 'http_429' });
    if (reply.status >= 500) throw new ConnectorError(`${this.id}: ${method}: HTTP ${reply.status}`, { retryable: true, reason: 'operator_error', providerCode: `http_${reply.status}` });
    const error = answer?.error ?? `http_${reply.status}`;
    const known = ERRORS[error] ?? (error.startsWith('FLOOD_WAIT') ? { reason: 'operator_throttled' as const, retryable: true } : { reason: 'operator_rejected' as const, retryable: false });
    throw new ConnectorError(`${this.id}: ${method}: ${error}`, { retryable: known.retryable, reason: known.reason, providerCode: error });
  }

  #post(method: string, body: Record<string, unknown>): Promise<ProviderReply> {
    this.#link.inFlight++;
    return requestJson(this.id, `${this.#base}/${method}`, { body, headers: { authorization: `Bearer ${this.#token}` } }).finally(() => this.#link.inFlight--);
  }

  async callback(request: CallbackRequest): Promise<CallbackReply> {
    const timestamp = request.headers['x-request-timestamp'] ?? '';
    const signature = request.headers['x-request-signature'] ?? '';
    // Signed with the SHA-256 of the token over "timestamp\nbody".
    const key = createHash('sha256').update(this.#token).digest();
    const expected = createHmac('sha256', key).update(`${timestamp}\n${request.body}`).digest('hex');
    if (request.method !== 'POST' || !timestamp || !secretEquals(signature, expected)) return { status: 401, body: 'bad signature' };
    let body: unknown;
    try {
      body = JSON.parse(request.body);
    } catch {
      return { status: 400, body: 'not JSON' };
    }
    const receipt = this.parseReceipt(body);
    if (receipt && this.#link.context && !this.#link.stopped) await this.#link.context.receipt(receipt);
    return { status: 200, body: 'OK' };
  }

  /** A RequestStatus report → Receipt; interim statuses (sent) and anything else → null. */
  parseReceipt(raw: unknown): Receipt | null {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return null;
    const r = raw as RequestStatus;
    const status = r.delivery_status?.status;
    if (typeof r.request_id !== 'string' || !status) return null;
    const at = typeof r.delivery_status?.updated_at === 'number' ? r.delivery_status.updated_at * 1000 : Date.now();
    const base = { connectorId: this.id, providerMessageId: r.request_id, at, raw: JSON.stringify(raw) };
    const failed = (s: Receipt['status'], reason: FailureReason): Receipt => ({ ...base, status: s, reason });
    switch (status) {
      case 'delivered':
      case 'read':
        return { ...base, status };
      case 'expired':
        return failed('expired', { code: 'validity_expired', providerCode: 'expired' });
      case 'revoked':
        return failed('undelivered', { code: 'cancelled_by_client', providerCode: 'revoked' });
      default:
        return null;
    }
  }
}
