import { Type, type Static } from 'typebox';
import type { ReasonCode } from '../../domain/reasons.ts';
import { BaseUrl, ConnectorIdSchema, secretsEnvSchema, secretsSchema } from '../shared/definition.ts';
import { requestJson, wholeMessageIds } from '../shared/http-client.ts';
import { ConnectorError, type Connector, type ConnectorContext, type ConnectorManifest, type ConnectorState, type OutboundMessage, type Receipt, type SendResult } from '../types.ts';
import { SingleLink } from '../shared/link.ts';

export const TelegramBotDefinitionSchema = Type.Object(
  {
    id: ConnectorIdSchema,
    type: Type.Literal('telegram_bot'),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    /** default https://api.telegram.org */
    base_url: Type.Optional(BaseUrl),
    /** optional `parse_mode` for every message: HTML or MarkdownV2 */
    parse_mode: Type.Optional(Type.Enum(['HTML', 'MarkdownV2'])),
    secrets: Type.Optional(secretsSchema(['bot_token'] as const)),
    secrets_env: Type.Optional(secretsEnvSchema(['bot_token'] as const)),
  },
  { additionalProperties: false },
);
export type TelegramBotDefinition = Static<typeof TelegramBotDefinitionSchema>;

export const telegramBotManifest: ConnectorManifest = {
  type: 'telegram_bot',
  name: 'Telegram Bot API',
  channels: ['telegram'],
  wholeMessage: true,
  fields: [
    { name: 'bot_token', label: 'Bot token', type: 'secret', required: true, description: 'The token @BotFather gave the bot. The recipient must have started a chat with it.' },
    { name: 'base_url', label: 'API address', type: 'string', required: false, default: 'https://api.telegram.org', description: 'The Bot API server (a local Bot API server, or a test fake).' },
  ],
};

const RECEIPT_RE = /^telegram_bot:(.+)$/;

/**
 * Text messages through a bot (`sendMessage`). The Bot API has no delivery
 * receipts: a message the API accepted counts as delivered, reported at once.
 * `to` is a chat id or @username; a phone number cannot be reached by a bot.
 */
export class TelegramBotConnector implements Connector {
  readonly id: string;
  readonly manifest = telegramBotManifest;
  readonly #base: string;
  readonly #token: string;
  readonly #parseMode: string | undefined;
  readonly #link = new SingleLink();

  constructor(definition: TelegramBotDefinition) {
    this.id = definition.id;
    this.#base = (definition.base_url ?? 'https://api.telegram.org').replace(/\/$/, '');
    this.#token = definition.secrets?.bot_token ?? '';
    this.#parseMode = definition.parse_mode;
  }

  async start(context: ConnectorContext): Promise<void> {
    this.#link.start(context);
  }

  async stop(): Promise<void> {
    this.#link.stop();
  }

  state(): ConnectorState {
    return this.#link.state(this.id, 'telegram_bot');
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    if (message.to.startsWith('+')) {
      throw new ConnectorError(`${this.id}: a bot cannot write to a phone number; give the chat id`, { retryable: false, reason: 'invalid_destination' });
    }
    this.#link.inFlight++;
    let reply;
    try {
      reply = await requestJson(this.id, `${this.#base}/bot${this.#token}/sendMessage`, { body: { chat_id: message.to, text: message.text, ...(this.#parseMode ? { parse_mode: this.#parseMode } : {}) } });
    } finally {
      this.#link.inFlight--;
    }
    const body = reply.json as { ok?: boolean; result?: { message_id?: number; chat?: { id?: number } }; error_code?: number; description?: string; parameters?: { retry_after?: number } } | undefined;
    if (reply.status === 200 && body?.ok === true && body.result?.message_id !== undefined) {
      const providerId = `${body.result.chat?.id ?? message.to}:${body.result.message_id}`;
      // Accepted is all the Bot API ever says; the receipt follows the answer, as an operator's would.
      const context = this.#link.context;
      if (context) setImmediate(() => void context.receipt(this.parseReceipt(`telegram_bot:${providerId}`)!).catch(() => {}));
      return { providerIds: wholeMessageIds(message.parts, providerId) };
    }
    throw this.#error(reply.status, body?.error_code, body?.description ?? reply.text.slice(0, 200), body?.parameters?.retry_after);
  }

  #error(status: number, code: number | undefined, description: string, retryAfter: number | undefined): ConnectorError {
    const providerCode = `${code ?? status}`;
    const say = (reason: ReasonCode, retryable: boolean) => new ConnectorError(`${this.id}: ${description}${retryAfter ? ` (retry after ${retryAfter} s)` : ''}`, { retryable, reason, providerCode });
    if (status === 429 || code === 429) return say('operator_throttled', true);
    if (status === 401 || code === 401 || status === 404) return say('operator_unavailable', true); // the token is wrong: a link failure, not the message's
    if (status >= 500) return say('operator_error', true);
    if (code === 403) return say('subscriber_blocked', false); // blocked by the user, or a chat the bot may not write to
    if (/chat not found|user not found/i.test(description)) return say('subscriber_unknown', false);
    if (/message is too long|can't parse entities|text must be non-empty/i.test(description)) return say('content_rejected', false);
    return say('operator_rejected', false);
  }

  parseReceipt(raw: unknown): Receipt | null {
    if (typeof raw !== 'string') return null;
    const m = RECEIPT_RE.exec(raw);
    if (!m) return null;
    return { connectorId: this.id, providerMessageId: m[1]!, status: 'delivered', at: Date.now(), raw };
  }
}
