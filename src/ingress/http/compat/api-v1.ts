import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import { Ajv } from 'ajv';
import { newId } from '../../../domain/ids.ts';
import { findNul } from '../../../domain/nul.ts';
import { ApiError } from '../../../errors.ts';
import { parseGender, renderTemplate } from '../../../domain/templates.ts';
import { acceptContext, prepareMessage } from '../../../pipeline/accept.ts';
import { RoutingTable } from '../../../pipeline/router.ts';
import { BalanceRepository, formatMoney, reserveOf } from '../../../store/balance.ts';
import { ConnectorsRepository } from '../../../store/connectors.ts';
import { SecretBox } from '../../../store/secrets.ts';
import { CompatRepository } from '../../../store/compat-requests.ts';
import type { BatchRow, MessageRow } from '../../../store/messages.ts';
import { ProjectsRepository } from '../../../store/projects.ts';
import { projectScope } from '../message-projects.ts';
import type { ApiKeyAuthenticator, AuthContext } from '../auth.ts';
import type { HttpDeps } from '../deps.ts';
import { detailsFromAjv } from '../errors.ts';
import { compatCaller, readRawBody } from './access.ts';
import { parseLocalDateTime } from './local-time.ts';

/**
 * The JSON API of seed 001 ("СМС шлюз"): `GET` or `POST /api/v1` with one of
 * `send`, `balance` or `status` in the body, answered in the seed's shapes.
 * A send goes through the same accept as `POST /v1/messages`: each user's
 * text is rendered (LiquidJS, the variant by gender), then prepareMessage
 * checks it and the accept writer stores it before the answer.
 */

const MAX_USERS = 10_000;
const MAX_BODY = 16 * 1024 * 1024;
/** what the body parser hands on for a body that is not JSON, so the answer is in the seed's shape */
const MALFORMED = Symbol('malformed');

const UserSchema = Type.Object(
  { phone: Type.String({ minLength: 1, maxLength: 64 }), gender: Type.Optional(Type.String({ maxLength: 16 })) },
  { additionalProperties: Type.Union([Type.String({ maxLength: 2000 }), Type.Number(), Type.Boolean(), Type.Null()]) },
);
const Text = Type.String({ maxLength: 10000 });
const Common = {
  route: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  ttl: Type.Optional(Type.Integer({ minimum: 30, maximum: 604800 })),
  mode: Type.Optional(Type.Enum(['debug'], { description: 'validate and record, do not send' })),
  voice: Type.Optional(Type.Integer({ minimum: 0, maximum: 1 })),
  timeLimit: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
};
const SendBody = Type.Object(
  {
    send: Type.Object(
      {
        text_male: Text,
        text_female: Type.Optional(Text),
        text_alternative: Type.Optional(Text),
        fields: Type.Optional(Type.Union([Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 100 }), Type.Record(Type.String(), Type.Unknown())])),
        users: Type.Array(UserSchema, { minItems: 1, maxItems: MAX_USERS }),
      },
      { additionalProperties: false },
    ),
    ...Common,
    route: Type.String({ minLength: 1, maxLength: 128 }),
  },
  { additionalProperties: false },
);
const BalanceBody = Type.Object({ balance: Type.Array(Type.String({ pattern: '^[Rr][Uu][Bb]$' }), { minItems: 1, maxItems: 1 }), ...Common }, { additionalProperties: false });
const StatusBody = Type.Object({ status: Type.Object({ key: Type.String({ pattern: '^[0-9a-f]{32}$' }) }, { additionalProperties: false }), ...Common }, { additionalProperties: false });

const ajv = new Ajv({ allErrors: true, coerceTypes: false, strict: false });
const validate = { send: ajv.compile<Static<typeof SendBody>>(SendBody), balance: ajv.compile<Static<typeof BalanceBody>>(BalanceBody), status: ajv.compile<Static<typeof StatusBody>>(StatusBody) };

type Kind = keyof typeof validate;

/** An answer in the seed's shape for its kind of request; errors use the same envelope with `status: "error"`. */
class CompatAnswer extends Error {
  readonly httpStatus: number;
  readonly body: unknown;
  constructor(httpStatus: number, body: unknown) {
    super('compat answer');
    this.httpStatus = httpStatus;
    this.body = body;
  }
}

function fail(kind: Kind | undefined, httpStatus: number, message: string): CompatAnswer {
  if (kind === 'send') return new CompatAnswer(httpStatus, [{ send: { status: 'error', message } }]);
  if (kind === 'balance' || kind === 'status') return new CompatAnswer(httpStatus, { status: 'error', message: [{ balance: { message } }] });
  return new CompatAnswer(httpStatus, { status: 'error', message });
}

const problems = (errors: Parameters<typeof detailsFromAjv>[0]) => detailsFromAjv(errors).map((d) => `${d.field} ${d.issue}`).join('; ');

/**
 * The names in `send.fields`: an array of names, or (the seed's table calls it
 * an object, `fields => fio`) an object whose keys are the names; an object
 * with only index keys (`{"0":"fio"}`, a PHP list with gaps) names its values.
 */
export function fieldNames(fields: readonly string[] | Record<string, unknown> | undefined): string[] {
  if (fields === undefined) return [];
  if (Array.isArray(fields)) return [...fields];
  const keys = Object.keys(fields);
  const indexed = keys.length > 0 && keys.every((k) => /^[0-9]+$/.test(k)) && Object.values(fields).every((v) => typeof v === 'string' && v !== '');
  return indexed ? (Object.values(fields) as string[]) : keys;
}

/** Rubles as the seed's XML writes them: `97.9`, `100`. */
const rubles = (minor: number) => String(minor / 100);

export function compatApiV1Routes(deps: HttpDeps, authenticator: ApiKeyAuthenticator): FastifyPluginAsync {
  const compat = new CompatRepository(deps.database.db);
  const balances = new BalanceRepository(deps.database.db);
  const projects = new ProjectsRepository(deps.database.db);
  const connectors = new ConnectorsRepository(deps.database.db, SecretBox.fromConfig(deps.config.secretKey, deps.config.dataDir));

  /** The routes of the config file and the API, as the sender resolves them. */
  const routing = async () => new RoutingTable(await connectors.namedRoutes(deps.config.routes));
  const routeOf = (table: RoutingTable, accountId: string, r: MessageRow) =>
    table.resolve({ accountId, channel: r.channel, recipient: r.recipient, project: r.project, trafficType: r.traffic_type, operator: r.operator, templated: r.template_id != null });

  async function send(auth: AuthContext, body: Static<typeof SendBody>): Promise<unknown> {
    const { account } = auth;
    const s = body.send;
    const voice = body.voice === 1;
    const now = Date.now();
    let sendAt: string | undefined;
    if (body.timeLimit !== undefined) {
      const ms = parseLocalDateTime(body.timeLimit, account.time_zone);
      if (ms === undefined) throw fail('send', 400, `timeLimit "${body.timeLimit}" — не дата и время вида "2022-03-15 13:00" (часовой пояс аккаунта ${account.time_zone})`);
      sendAt = new Date(ms).toISOString();
    }
    const fields = fieldNames(s.fields);
    const context = await acceptContext(account, deps);
    // The seed names no project: a key bound to one gives its messages that project's code.
    const project = (await projectScope(projects, auth, [])).bound;
    const batchId = newId('bat', now);
    const rows: MessageRow[] = [];
    const issues: string[] = [];
    s.users.forEach((user, i) => {
      const values = user as Record<string, unknown>;
      const at = `send.users.${i}`;
      const gender = parseGender(user.gender);
      if (gender === undefined) return void issues.push(`${at}.gender: "${user.gender}" — ожидается male или female`);
      if (s.text_female !== undefined && gender === null && s.text_alternative === undefined) return void issues.push(`${at}.gender: обязателен, когда задан text_female`);
      const missing = fields.filter((f) => values[f] === undefined || values[f] === null || values[f] === '');
      if (missing.length > 0) return void issues.push(`${at}: нет полей ${missing.join(', ')}, указанных в fields`);
      const source = gender === 'female' && s.text_female !== undefined ? s.text_female : gender === null && s.text_alternative !== undefined ? s.text_alternative : s.text_male;
      const rendered = renderTemplate(source, values);
      if (!rendered.ok) return void issues.push(`${at}: текст не собран: ${rendered.issue}`);
      const prepared = prepareMessage(account, { ...(voice ? { channel: 'voice' as const } : {}), ...(project !== undefined ? { project } : {}), to: user.phone, text: rendered.text, ttl_seconds: body.ttl, send_at: sendAt }, now, batchId, context, `${at}.`);
      if (!prepared.ok && prepared.error.code === 'invalid_send_at') return void issues.push(`timeLimit: не позже чем через 180 дней`);
      if (!prepared.ok) return void issues.push(`${(prepared.error.details[0]?.field ?? at).replace(/\.to$/, '.phone')}: ${prepared.error.message}`);
      rows.push(prepared.row);
    });
    if (issues.length > 0) throw fail('send', 400, `Ошибка валидации; сообщения не приняты: ${issues.slice(0, 20).join('; ')}${issues.length > 20 ? ` (и ещё ${issues.length - 20})` : ''}`);
    const table = await routing();
    if (voice) {
      // A call needs a voice route (a FreeSWITCH connector): without one the whole request is refused up front, not failed later.
      const unrouted = rows.filter((r) => routeOf(table, account.id, r) === null).map((r) => r.recipient);
      if (unrouted.length > 0) {
        const which = unrouted.length === rows.length ? '' : ` для номеров ${[...new Set(unrouted)].slice(0, 20).join(', ')}`;
        throw fail('send', 400, `Голосовые сообщения (voice: 1) не отправить: у аккаунта нет голосового маршрута${which} (подключите голосовой коннектор FreeSWITCH и маршрут channel: voice). Сообщения не приняты.`);
      }
    }
    // `route` names the provider: when it is one of the connectors the account's route gives a message, the message
    // goes by that one only (no failover to the route's others); any other name is recorded, and routing chooses.
    for (const r of rows) if (routeOf(table, account.id, r)?.connectors.includes(body.route)) r.connector_id = body.route;
    const debug = body.mode === 'debug';
    // All or nothing, like the rest of a send: what the balance does not cover refuses the request (debug checks it too).
    await refuseUnpaid(account.id, rows);
    const record = await compat.record(
      account.id,
      'send',
      body.route,
      body.mode ?? null,
      debug ? { debug: true, messages: rows.map((r) => ({ phone: r.recipient, text: r.body, parts_count: r.parts_count })) } : { debug: false, batch_id: batchId },
      now,
    );
    if (!debug) {
      const batch: BatchRow = { id: batchId, account_id: account.id, total: rows.length, accepted: rows.length, rejected: 0, created_at: now };
      try {
        await deps.delivery.accept({ messages: rows, batch });
      } catch (err) {
        // A concurrent spend took the money between the check and the store.
        if (err instanceof ApiError && err.code === 'insufficient_balance') await refuseUnpaid(account.id, rows, true);
        throw err;
      }
      deps.metrics.messagesAccepted.inc(rows.length);
    }
    return [{ send: { status: 'ok', message: 'Сообщения в очереди на отправку', key: record.key } }];
  }

  /** Throws the seed-shaped 402 when the account's balance plus credit does not cover the rows (or, `always`, when the store found so). */
  async function refuseUnpaid(accountId: string, rows: readonly MessageRow[], always = false): Promise<void> {
    const needed = rows.reduce((sum, r) => sum + reserveOf(r), 0);
    if (needed === 0 && !always) return;
    const b = await balances.get(accountId);
    const available = b.amount_minor + b.credit_limit_minor;
    if (needed <= available && !always) return;
    throw fail('send', 402, `Недостаточно средств: сообщения (${rows.length}) стоят ${formatMoney(needed)} руб., доступно ${formatMoney(Math.max(0, available))} руб. (баланс и кредит). Сообщения не приняты; пополните баланс.`);
  }

  async function balance(auth: AuthContext, body: Static<typeof BalanceBody>): Promise<unknown> {
    const b = await balances.get(auth.account.id);
    const price = await balances.priceFor(auth.account.id, 'sms', null, 'service');
    const available = b.amount_minor + b.credit_limit_minor;
    const sms = price > 0 ? Math.max(0, Math.floor(available / price)) : 0;
    const record = await compat.record(auth.account.id, 'balance', body.route ?? null, body.mode ?? null, { amount_minor: b.amount_minor, sms });
    return { status: 'ok', message: [{ balance: { message: 'Запрос баланса успешно отправлен', key: record.key } }] };
  }

  async function status(auth: AuthContext, body: Static<typeof StatusBody>): Promise<unknown> {
    const record = await compat.get(auth.account.id, body.status.key);
    if (!record) throw fail('status', 404, `Запрос с ключом ${body.status.key} не найден`);
    const result = JSON.parse(record.result) as Record<string, unknown>;
    if (record.kind === 'balance') {
      const xml = `<?xml version="1.0" encoding="utf-8"?>\n<response>\n <sms area="Россия">${Number(result.sms)}</sms><money currency="RUR">${rubles(Number(result.amount_minor))}</money>\n</response>`;
      return { status: 'ok', message: [{ balance: { message: 'Статус запроса получен', status: xml } }] };
    }
    if (result.debug) {
      const messages = result.messages as { phone: string; text: string; parts_count: number }[];
      return { status: 'ok', message: [{ send: { message: 'Статус запроса получен', status: messages.map((m) => ({ phone: m.phone, status: 'debug', text: m.text })) } }] };
    }
    const rows = await deps.messages.list(auth.account.id, { batchId: String(result.batch_id), limit: MAX_USERS });
    const statuses = rows.reverse().map((r) => ({ phone: r.recipient, id: r.id, status: r.status, reason: r.reason_code }));
    return { status: 'ok', message: [{ send: { message: 'Статус запроса получен', status: statuses } }] };
  }

  async function handle(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    let kind: Kind | undefined;
    try {
      const auth = await compatCaller(request, authenticator, compat, deps.accounts);
      let body: unknown = request.body;
      if (request.method === 'GET') {
        const raw = await readRawBody(request, MAX_BODY);
        if (raw === 'too_large') throw fail(undefined, 400, 'Тело запроса больше 16 МиБ');
        try {
          body = raw.trim() === '' ? undefined : JSON.parse(raw);
        } catch {
          throw fail(undefined, 400, 'Тело запроса — не JSON');
        }
      }
      if (body === MALFORMED) throw fail(undefined, 400, 'Тело запроса — не JSON');
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw fail(undefined, 400, 'Ожидается JSON-объект с send, balance или status');
      const kinds = (['send', 'balance', 'status'] as const).filter((k) => k in body);
      kind = kinds.length === 1 ? kinds[0] : undefined;
      if (!(await deps.modules.enabled('compat_api_v1'))) {
        request.log.info({ url: request.url }, 'compat /api/v1 refused: the compat_api_v1 module is switched off');
        throw fail(kind, 403, 'Доступ запрещен: API /api/v1 отключено администратором платформы');
      }
      if (!auth) throw fail(kind, 403, 'Доступ запрещен: передайте API-ключ в заголовке "Authorization: Bearer <ключ>"');
      if (kind === undefined) throw fail(undefined, 400, 'В запросе должен быть ровно один из объектов send, balance или status');
      const nul = findNul(body);
      if (nul !== undefined) throw fail(kind, 400, `Ошибка валидации: ${nul} содержит символ NUL (U+0000)`);
      let answer: unknown;
      if (kind === 'send') {
        if (!validate.send(body)) throw fail(kind, 400, `Ошибка валидации: ${problems(validate.send.errors ?? [])}`);
        answer = await send(auth, body);
      } else if (kind === 'balance') {
        if (!validate.balance(body)) throw fail(kind, 400, `Ошибка валидации: ${problems(validate.balance.errors ?? [])}`);
        answer = await balance(auth, body);
      } else {
        if (!validate.status(body)) throw fail(kind, 400, `Ошибка валидации: ${problems(validate.status.errors ?? [])}`);
        answer = await status(auth, body);
      }
      return reply.code(200).type('application/json; charset=utf-8').send(answer);
    } catch (err) {
      const answer = err instanceof CompatAnswer ? err : fail(kind, 500, 'Внутренняя ошибка сервера');
      if (!(err instanceof CompatAnswer)) request.log.error({ err }, 'compat /api/v1 failed');
      return reply.code(answer.httpStatus).type('application/json; charset=utf-8').send(answer.body);
    }
  }

  return async (app) => {
    // The seed's clients send JSON, sometimes without saying so; malformed JSON is answered in the seed's shape.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: MAX_BODY }, (_request, text, done) => {
      const body = String(text);
      try {
        done(null, body.trim() === '' ? undefined : JSON.parse(body));
      } catch {
        done(null, MALFORMED);
      }
    });
    app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
      const tooLarge = err.statusCode === 413;
      if (!tooLarge) request.log.error({ err }, 'compat /api/v1 failed');
      const answer = fail(undefined, tooLarge ? 400 : 500, tooLarge ? 'Тело запроса больше 16 МиБ' : 'Внутренняя ошибка сервера');
      return reply.code(answer.httpStatus).type('application/json; charset=utf-8').send(answer.body);
    });
    const schema = { summary: 'Seed 001: send, balance, status', description: 'The JSON API of seed 001, `GET` or `POST` with the same JSON body; see docs/compat.md.', tags: ['compatibility'], security: [{ bearerAuth: [] }] };
    app.get('/api/v1', { schema }, handle);
    app.post('/api/v1', { schema }, handle);
  };
}
