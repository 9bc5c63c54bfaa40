import { randomUUID } from 'node:crypto';
import { Type, type Static } from 'typebox';
import { ConnectorIdSchema, missingSecrets, secretsEnvSchema, secretsSchema } from '../shared/definition.ts';
import { wholeMessageIds } from '../shared/http-client.ts';
import { ConnectorError, type Connector, type ConnectorContext, type ConnectorManifest, type ConnectorState, type OutboundMessage, type Receipt, type SendResult } from '../types.ts';
import { causeMeaning, causeOfResult } from './causes.ts';
import { EslConnection, EslError, type EslEvent } from './esl.ts';

export const VoiceDefinitionSchema = Type.Object(
  {
    id: ConnectorIdSchema,
    type: Type.Literal('voice'),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    /** FreeSWITCH's event socket (mod_event_socket) */
    host: Type.String({ minLength: 1, maxLength: 255 }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 8021 })),
    /** the SIP gateway calls go out through: `sofia/gateway/<gateway>/<number>` */
    gateway: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{1,100}$' })),
    /** instead of `gateway`: the whole dial string, with {number} (digits), {e164} (+digits) and {gateway} */
    dial_string: Type.Optional(Type.String({ pattern: '^[^\\s{}\'"]{1,500}$' })),
    caller_id_number: Type.Optional(Type.String({ pattern: '^\\+?[0-9]{1,20}$' })),
    caller_id_name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9 ._-]{1,50}$' })),
    /** tts (default): speak the text; file: play `file` */
    play: Type.Optional(Type.Enum(['tts', 'file'])),
    /** the `speak` engine and voice, default flite and kal (mod_flite); e.g. tts_commandline for Russian */
    tts_engine: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,50}$' })),
    tts_voice: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,100}$' })),
    /** the file `playback` plays (play: file), e.g. /var/spool/depesha/{message_id}.wav or file_string://a.wav!b.wav */
    file: Type.Optional(Type.String({ pattern: '^[^\\s\'"()]{1,1000}$' })),
    /** how long the callee's phone rings before NO_ANSWER, default 30 */
    call_timeout_seconds: Type.Optional(Type.Integer({ minimum: 5, maximum: 300 })),
    /** how long a send waits for the call to be placed (ringing, answered or refused) before counting it sent, default 5000 */
    place_timeout_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: 30000 })),
    /** the event format asked for, default plain */
    event_format: Type.Optional(Type.Enum(['plain', 'json'])),
    connect_timeout_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: 60000 })),
    reconnect_min_ms: Type.Optional(Type.Integer({ minimum: 10, maximum: 600000 })),
    reconnect_max_ms: Type.Optional(Type.Integer({ minimum: 10, maximum: 3600000 })),
    /** `password`: the event socket's password (event_socket.conf.xml) */
    secrets: Type.Optional(secretsSchema(['password'] as const)),
    secrets_env: Type.Optional(secretsEnvSchema(['password'] as const)),
  },
  { additionalProperties: false },
);
export type VoiceDefinition = Static<typeof VoiceDefinitionSchema>;

/** What is wrong with a voice definition beyond its schema. */
export function voiceDefinitionProblems(d: VoiceDefinition): { field: string; issue: string }[] {
  const problems = missingSecrets(d, ['password']);
  if (d.gateway === undefined && d.dial_string === undefined) problems.push({ field: 'gateway', issue: 'give gateway or dial_string' });
  if (d.dial_string !== undefined && !d.dial_string.includes('{number}') && !d.dial_string.includes('{e164}')) problems.push({ field: 'dial_string', issue: 'must contain {number} or {e164}' });
  if (d.dial_string?.includes('{gateway}') && d.gateway === undefined) problems.push({ field: 'gateway', issue: 'dial_string uses {gateway}' });
  if (d.play === 'file' && d.file === undefined) problems.push({ field: 'file', issue: 'required with play: file' });
  return problems;
}

export const voiceManifest: ConnectorManifest = {
  type: 'voice',
  name: 'Voice calls (FreeSWITCH)',
  channels: ['voice'],
  wholeMessage: true,
  fields: [
    { name: 'host', label: 'Event socket host', type: 'string', required: true, description: "FreeSWITCH's mod_event_socket address." },
    { name: 'port', label: 'Event socket port', type: 'integer', required: false, default: 8021, description: 'The event socket port.' },
    { name: 'password', label: 'Event socket password', type: 'secret', required: true, description: 'The password of event_socket.conf.xml.' },
    { name: 'gateway', label: 'SIP gateway', type: 'string', required: false, description: 'Calls go out as sofia/gateway/<gateway>/<number>.' },
    { name: 'dial_string', label: 'Dial string', type: 'string', required: false, description: 'Instead of a gateway: a dial string with {number} or {e164}.' },
    { name: 'caller_id_number', label: 'Caller id', type: 'string', required: false, description: 'The number the callee sees.' },
    { name: 'play', label: 'What the call plays', type: 'enum', required: false, default: 'tts', options: ['tts', 'file'], description: 'Speak the text, or play a file.' },
    { name: 'tts_engine', label: 'TTS engine', type: 'string', required: false, default: 'flite', description: 'The speak engine (flite, tts_commandline, …).' },
    { name: 'tts_voice', label: 'TTS voice', type: 'string', required: false, default: 'kal', description: 'The voice of the engine.' },
    { name: 'file', label: 'File', type: 'string', required: false, description: 'With play file: the path, {message_id} replaced.' },
  ],
};

/** The events a call is followed by. */
const EVENTS = ['BACKGROUND_JOB', 'CHANNEL_PROGRESS', 'CHANNEL_PROGRESS_MEDIA', 'CHANNEL_ANSWER', 'CHANNEL_HANGUP_COMPLETE'] as const;
/** how long a finished call's id is remembered, so its second end report (job result and hang-up) is not reported again */
const DONE_KEEP_MS = 10 * 60_000;

interface Call {
  messageId: string;
  jobUuid: string;
  answered: boolean;
  /** send() has returned: from now on the call's end is a receipt */
  returned: boolean;
  ended: { cause: string; raw: string } | undefined;
  placed: () => void;
}

/**
 * Text the originate command line can carry: one line, no single quote (it
 * quotes the app argument), no parentheses (they end it), no `|` (speak's
 * separator) and no `${` (variable expansion).
 */
export function speakable(text: string): string {
  return text
    .replace(/[\r\n\t\v\f]+/g, ' ')
    .replace(/'/g, '’')
    .replace(/[()|]/g, ' ')
    .replace(/\$\{/g, '$ {')
    .replace(/ {2,}/g, ' ')
    .trim();
}

/**
 * Voice messages through FreeSWITCH's inbound event socket: `bgapi
 * originate` through the configured gateway with our own channel uuid
 * (`origination_uuid`, the provider id) and `speak` (TTS) or `playback` on
 * answer. A send waits until the call is placed (ringing, answered, or
 * refused): a network failure before that (congestion, gateway down) is a
 * retryable error, so the pipeline retries it later; the callee's answer and
 * hang-up (CHANNEL_ANSWER, CHANNEL_HANGUP_COMPLETE with Hangup-Cause) come
 * back as receipts. The connection reconnects with back-off.
 */
export class VoiceConnector implements Connector {
  readonly id: string;
  readonly manifest = voiceManifest;
  readonly #d: VoiceDefinition;
  #context: ConnectorContext | undefined;
  #conn: EslConnection | undefined;
  #status: ConnectorState['status'] = 'stopped';
  #detail: string | null = null;
  #since = Date.now();
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  #backoff: number;
  readonly #calls = new Map<string, Call>();
  readonly #jobs = new Map<string, string>();
  readonly #done = new Map<string, number>();

  constructor(definition: VoiceDefinition) {
    this.id = definition.id;
    this.#d = definition;
    this.#backoff = definition.reconnect_min_ms ?? 500;
  }

  async start(context: ConnectorContext): Promise<void> {
    this.#context = context;
    this.#set('connecting', null);
    // The first attempt is awaited (so a started connector is up when FreeSWITCH is); later ones run on their own.
    await this.#connect();
  }

  async stop(): Promise<void> {
    this.#context = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const conn = this.#conn;
    this.#conn = undefined;
    conn?.close();
    for (const call of this.#calls.values()) call.placed();
    this.#calls.clear();
    this.#jobs.clear();
    this.#set('stopped', null);
  }

  state(): ConnectorState {
    const up = this.#status === 'up' ? 1 : 0;
    return { id: this.id, type: 'voice', status: this.#status, detail: this.#detail, since: this.#since, links: { up, total: 1 }, inFlight: this.#inFlight };
  }

  #set(status: ConnectorState['status'], detail: string | null): void {
    if (status !== this.#status) this.#since = Date.now();
    this.#status = status;
    this.#detail = detail;
  }

  async #connect(): Promise<void> {
    if (!this.#context) return;
    const d = this.#d;
    let conn: EslConnection | undefined;
    let opened: EslConnection | undefined;
    try {
      opened = await EslConnection.open({
        host: d.host,
        port: d.port ?? 8021,
        password: d.secrets?.password ?? '',
        timeoutMs: d.connect_timeout_ms ?? 5000,
        onEvent: (e) => this.#event(e),
        onClose: (why) => {
          if (this.#conn !== opened) return;
          this.#conn = undefined;
          this.#down(`event socket lost: ${why}`);
        },
      });
      conn = opened;
      await conn.subscribe(d.event_format ?? 'plain', EVENTS);
      // Only our calls' channel events, and job results (filters are alternatives).
      await conn.filter('Event-Name', 'BACKGROUND_JOB');
      await conn.filter('variable_depesha_connector', this.id);
    } catch (err) {
      conn?.close();
      const reply = err instanceof EslError ? err.reply : undefined;
      this.#down(reply?.includes('invalid') ? `auth refused: ${reply}` : (err as Error).message);
      return;
    }
    if (!this.#context) {
      conn.close();
      return;
    }
    this.#conn = conn;
    this.#backoff = d.reconnect_min_ms ?? 500;
    this.#set('up', null);
    void this.#recover(conn);
  }

  #down(detail: string): void {
    if (!this.#context) return;
    this.#set('connecting', detail);
    clearTimeout(this.#timer);
    const wait = this.#backoff;
    this.#backoff = Math.min(this.#d.reconnect_max_ms ?? 30_000, this.#backoff * 2);
    this.#timer = setTimeout(() => void this.#connect(), wait);
    this.#timer.unref();
  }

  /**
   * After a reconnect: the calls placed before it whose end we may have
   * missed. One that still exists goes on reporting; one that is gone ended
   * while we were away: delivered when it had been answered, otherwise its
   * outcome is unknown and the message is left to expire (no_receipt).
   */
  async #recover(conn: EslConnection): Promise<void> {
    for (const [uuid, call] of [...this.#calls]) {
      if (!call.returned || call.ended) continue;
      let exists: string;
      try {
        exists = (await conn.api(`uuid_exists ${uuid}`)).trim();
      } catch {
        return; // lost again: the next reconnect asks again
      }
      if (exists === 'true' || !this.#calls.has(uuid)) continue;
      this.#forget(uuid);
      if (call.answered) this.#report({ connectorId: this.id, providerMessageId: uuid, status: 'delivered', at: Date.now(), raw: 'answered; ended while the event socket was down' });
    }
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const conn = this.#conn;
    if (!conn || conn.closed || this.#status !== 'up') {
      throw new ConnectorError(`${this.id}: the FreeSWITCH event socket is not connected${this.#detail ? ` (${this.#detail})` : ''}`, { retryable: true, reason: 'operator_unavailable' });
    }
    const d = this.#d;
    const uuid = randomUUID();
    const jobUuid = randomUUID();
    const digits = message.to.replace(/^\+/, '');
    const dial = (d.dial_string ?? 'sofia/gateway/{gateway}/{number}').replaceAll('{number}', digits).replaceAll('{e164}', `+${digits}`).replaceAll('{gateway}', d.gateway ?? '');
    const vars = [
      `origination_uuid=${uuid}`,
      `depesha_connector=${this.id}`,
      `depesha_message=${message.id}`,
      'ignore_early_media=true',
      `originate_timeout=${d.call_timeout_seconds ?? 30}`,
      ...(d.caller_id_number ? [`origination_caller_id_number=${d.caller_id_number}`] : []),
      ...(d.caller_id_name ? [`origination_caller_id_name='${d.caller_id_name}'`] : []),
    ];
    let app: string;
    if ((d.play ?? 'tts') === 'file') app = `playback(${(d.file ?? '').replaceAll('{message_id}', message.id)})`;
    else {
      const text = speakable(message.text);
      if (text === '') throw new ConnectorError(`${this.id}: nothing to speak`, { retryable: false, reason: 'content_rejected' });
      app = `speak(${d.tts_engine ?? 'flite'}|${d.tts_voice ?? 'kal'}|${text})`;
    }
    const command = `originate {${vars.join(',')}}${dial} '&${app}'`;

    let placed!: () => void;
    const wait = new Promise<void>((resolve) => (placed = resolve));
    const call: Call = { messageId: message.id, jobUuid, answered: false, returned: false, ended: undefined, placed };
    this.#calls.set(uuid, call);
    this.#jobs.set(jobUuid, uuid);
    this.#inFlight++;
    try {
      try {
        await conn.bgapi(command, jobUuid);
      } catch (err) {
        this.#forget(uuid);
        const reply = err instanceof EslError ? err.reply : undefined;
        // Not taken (the connection dropped first, or FreeSWITCH refused the command, e.g. mod_commands missing): retried later.
        throw new ConnectorError(`${this.id}: originate not taken: ${(err as Error).message}`, { retryable: true, reason: 'operator_unavailable', providerCode: reply, cause: err });
      }
      const timer = setTimeout(placed, d.place_timeout_ms ?? 5000);
      await wait;
      clearTimeout(timer);
    } finally {
      this.#inFlight--;
    }
    const ended = call.ended;
    if (ended && !call.answered) {
      const meaning = causeMeaning(ended.cause);
      if (meaning.kind === 'network') {
        this.#forget(uuid);
        throw new ConnectorError(`${this.id}: the call did not get through: ${ended.cause}`, { retryable: true, reason: meaning.reason, providerCode: ended.cause });
      }
    }
    call.returned = true;
    // Ended before send returned (busy, no such number): reported once the pipeline has recorded the send.
    if (ended) setImmediate(() => this.#ended(uuid, call));
    return { providerIds: wholeMessageIds(message.parts, uuid) };
  }

  #forget(uuid: string): void {
    const call = this.#calls.get(uuid);
    if (call) this.#jobs.delete(call.jobUuid);
    this.#calls.delete(uuid);
    const now = Date.now();
    this.#done.set(uuid, now);
    for (const [id, at] of this.#done) {
      if (now - at < DONE_KEEP_MS) break;
      this.#done.delete(id);
    }
  }

  #event(e: EslEvent): void {
    if (e.name === 'BACKGROUND_JOB') {
      const uuid = this.#jobs.get(e.headers['Job-UUID'] ?? '');
      const call = uuid === undefined ? undefined : this.#calls.get(uuid);
      if (!uuid || !call) return;
      const cause = causeOfResult(e.body);
      // originate's job ends when the call is answered (+OK <uuid>) or has failed (-ERR <cause>).
      if (cause === undefined) {
        call.answered = true;
        call.placed();
      } else this.#end(uuid, call, cause, `BACKGROUND_JOB ${e.body.trim()}`);
      return;
    }
    if (e.headers.variable_depesha_connector !== this.id) return;
    const uuid = e.headers['Unique-ID'] ?? '';
    const call = this.#calls.get(uuid);
    if (e.name === 'CHANNEL_PROGRESS' || e.name === 'CHANNEL_PROGRESS_MEDIA') return call?.placed();
    if (e.name === 'CHANNEL_ANSWER') {
      if (call) {
        call.answered = true;
        call.placed();
      }
      return;
    }
    if (e.name !== 'CHANNEL_HANGUP_COMPLETE') return;
    if (call) {
      if (answeredIn(e.headers)) call.answered = true;
      this.#end(uuid, call, e.headers['Hangup-Cause'] ?? 'NORMAL_UNSPECIFIED', hangupRaw(e));
      return;
    }
    // A call of ours we hold nothing about (placed before a restart): the event says it all.
    if (this.#done.has(uuid)) return;
    const receipt = this.parseReceipt(e);
    if (receipt) {
      this.#forget(uuid);
      this.#report(receipt);
    }
  }

  #end(uuid: string, call: Call, cause: string, raw: string): void {
    if (call.ended) return;
    call.ended = { cause, raw };
    if (call.returned) this.#ended(uuid, call);
    else call.placed();
  }

  #ended(uuid: string, call: Call): void {
    if (!this.#calls.has(uuid) || !call.ended) return;
    this.#forget(uuid);
    this.#report(outcome(this.id, uuid, call.ended.cause, call.answered, call.ended.raw));
  }

  #report(receipt: Receipt): void {
    const context = this.#context;
    if (!context) return;
    context.receipt(receipt).catch(() => {
      // Not recorded (the store failed): the message stays sent and expires with no_receipt; FreeSWITCH does not repeat events.
    });
  }

  /** A CHANNEL_HANGUP_COMPLETE event of one of this connector's calls → Receipt; null for anything else. */
  parseReceipt(raw: unknown): Receipt | null {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return null;
    const e = raw as Partial<EslEvent>;
    if (e.name !== 'CHANNEL_HANGUP_COMPLETE' || !e.headers || typeof e.headers !== 'object') return null;
    const h = e.headers;
    if (h.variable_depesha_connector !== this.id || !h['Unique-ID']) return null;
    return outcome(this.id, h['Unique-ID'], h['Hangup-Cause'] ?? 'NORMAL_UNSPECIFIED', answeredIn(h), hangupRaw(e as EslEvent));
  }
}

/** Whether a hang-up event says the call had been answered. */
function answeredIn(h: Record<string, string>): boolean {
  const at = Number(h['Caller-Channel-Answered-Time'] ?? '0');
  return (Number.isFinite(at) && at > 0) || Number(h.variable_answersec ?? '0') > 0 || h['Answer-State'] === 'answered';
}

function hangupRaw(e: EslEvent): string {
  const h = e.headers;
  return `${e.name} Hangup-Cause: ${h['Hangup-Cause'] ?? ''}${h.variable_billsec ? ` billsec: ${h.variable_billsec}` : ''}${h.variable_sip_term_status ? ` sip: ${h.variable_sip_term_status}` : ''}`;
}

/**
 * A call's end → our status: answered and cleared normally (or hung up by
 * the callee) is delivered; answered and then cut by the network, or never
 * answered, is undelivered with the reason of its cause.
 */
function outcome(connectorId: string, uuid: string, cause: string, answered: boolean, raw: string): Receipt {
  const base = { connectorId, providerMessageId: uuid, at: Date.now(), raw };
  const meaning = causeMeaning(cause);
  if (answered && meaning.kind === 'subscriber') return { ...base, status: 'delivered' };
  return { ...base, status: 'undelivered', reason: { code: meaning.reason, providerCode: cause, detail: answered ? 'the call was cut after it was answered' : undefined } };
}
