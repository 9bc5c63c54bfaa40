import { ApiError } from '../errors.ts';
import { normalizePhone } from '../sms/phone.ts';

/**
 * The channels a message can go by, and what each needs beyond `to` and
 * `text`. SMS keeps its own path in pipeline/accept.ts; the others are
 * checked here: the recipient's form, and the fields only some channels take
 * (an e-mail's subject and HTML body, a WhatsApp/Viber template).
 */
export const CHANNELS = ['sms', 'telegram', 'whatsapp', 'viber', 'email', 'voice'] as const;
export type Channel = (typeof CHANNELS)[number];

/** A template approved at the provider: its name, language and the values of its placeholders, in order. */
export interface TemplateRef {
  name: string;
  language?: string | undefined;
  params?: string[] | undefined;
}

/** What a non-SMS message carries besides its text; stored as JSON in `messages.content`. */
export interface MessageContent {
  subject?: string | undefined;
  html?: string | undefined;
  template?: TemplateRef | undefined;
}

/** The channel fields of a send request (already schema-checked). */
export interface ChannelFields {
  channel?: Channel | undefined;
  to: string;
  text: string;
  from?: string | undefined;
  subject?: string | undefined;
  html?: string | undefined;
  template?: TemplateRef | undefined;
}

/** Which optional fields each channel takes; any other is refused so a client learns of a typo'd channel at once. */
const TAKES: Record<Channel, ReadonlySet<'subject' | 'html' | 'template'>> = {
  sms: new Set(),
  voice: new Set(),
  telegram: new Set(),
  whatsapp: new Set(['template']),
  viber: new Set(['template']),
  email: new Set(['subject', 'html']),
};

// Deliberately simple: one @, no spaces, a dotted domain. The SMTP server is the final judge.
const EMAIL = /^[^\s@<>()",;]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$/;
/** A Telegram chat id (negative for groups and channels) or a public @username. */
const TELEGRAM_CHAT = /^(?:-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$/;

export type CheckedChannel = { ok: true; recipient: string; sender: string | null; content: MessageContent | null } | { ok: false; error: ApiError };

/** Refuses the fields the message's channel does not take (SMS included: it takes none of them). */
export function fieldNotAllowed(req: ChannelFields, field: (name: string) => string): ApiError | null {
  const channel = req.channel ?? 'sms';
  for (const name of ['subject', 'html', 'template'] as const) {
    if (req[name] !== undefined && !TAKES[channel].has(name)) {
      const issue = `is not taken by the ${channel} channel`;
      return new ApiError('channel_field_not_allowed', `${name} ${issue}`, [{ field: field(name), issue }]);
    }
  }
  return null;
}

/**
 * Checks a message of a channel other than SMS: the recipient in the form the
 * channel needs (E.164 for WhatsApp, Viber and voice; an e-mail address; a
 * Telegram chat id or E.164 number) and the channel's own fields.
 */
export function checkChannelMessage(req: ChannelFields, defaultRegion: string, field: (name: string) => string): CheckedChannel {
  const channel = req.channel ?? 'sms';
  const notAllowed = fieldNotAllowed(req, field);
  if (notAllowed) return { ok: false, error: notAllowed };
  const to = req.to.trim();
  let recipient: string;
  if (channel === 'email') {
    if (!EMAIL.test(to)) return invalidRecipient(req.to, 'must be an e-mail address', field);
    recipient = to;
    if (req.from !== undefined && !EMAIL.test(req.from)) {
      const issue = 'must be an e-mail address of a sender domain of the connector';
      return { ok: false, error: new ApiError('invalid_sender', `sender "${req.from}" ${issue}`, [{ field: field('from'), issue }]) };
    }
    if (req.subject === undefined || req.subject.trim() === '') return missing('subject', 'an e-mail needs a subject', field);
    if (req.text.trim() === '' && (req.html === undefined || req.html.trim() === '')) return missing('text', 'an e-mail needs text or html', field);
  } else if (channel === 'telegram' && !to.startsWith('+')) {
    if (!TELEGRAM_CHAT.test(to)) return invalidRecipient(req.to, 'must be a chat id, an @username or an E.164 number starting with "+"', field);
    recipient = to;
  } else {
    const phone = normalizePhone(to, defaultRegion);
    if (!phone.ok) return { ok: false, error: new ApiError('invalid_phone_number', `"${req.to}" is not a valid phone number: ${phone.issue}`, [{ field: field('to'), issue: phone.issue }]) };
    recipient = phone.e164;
  }
  if (channel !== 'email' && req.template === undefined && req.text.trim() === '') {
    return { ok: false, error: new ApiError('empty_text', 'text is empty', [{ field: field('text'), issue: 'must contain at least one visible character (or give a template)' }]) };
  }
  const content: MessageContent = {};
  if (req.subject !== undefined) content.subject = req.subject;
  if (req.html !== undefined) content.html = req.html;
  if (req.template !== undefined) content.template = req.template;
  return { ok: true, recipient, sender: req.from ?? null, content: Object.keys(content).length > 0 ? content : null };
}

function invalidRecipient(to: string, issue: string, field: (name: string) => string): CheckedChannel {
  return { ok: false, error: new ApiError('invalid_recipient', `"${to}" ${issue}`, [{ field: field('to'), issue }]) };
}

function missing(name: string, message: string, field: (name: string) => string): CheckedChannel {
  return { ok: false, error: new ApiError('channel_field_missing', message, [{ field: field(name), issue: 'required for this channel' }]) };
}

/** The stored content column back as the connector and the API see it. */
export function parseContent(stored: string | null | undefined): MessageContent | null {
  return stored ? (JSON.parse(stored) as MessageContent) : null;
}

/** The API fields of a message's content: only those it has, so an SMS looks as it always did. */
export function presentContent(stored: string | null | undefined): MessageContent {
  const content = parseContent(stored);
  if (!content) return {};
  const out: MessageContent = {};
  if (content.subject !== undefined) out.subject = content.subject;
  if (content.html !== undefined) out.html = content.html;
  if (content.template !== undefined) out.template = content.template;
  return out;
}
