import dayjs from 'dayjs';
import timezone from 'dayjs/plugin/timezone';
import utc from 'dayjs/plugin/utc';
import { createContext, useContext, useMemo, useState, type ReactNode } from 'react';

dayjs.extend(utc);
dayjs.extend(timezone);

export type Lang = 'en' | 'ru';

/** Russian for each English phrase (gettext-style: the English text is the key); `{name}` marks a value. */
const RU: Record<string, string> = {
  'Sign in': 'Войти',
  'Sign out': 'Выйти',
  Email: 'Эл. почта',
  Password: 'Пароль',
  'Sign in to Depesha': 'Вход в Депешу',
  Dashboard: 'Обзор',
  Send: 'Отправка',
  History: 'История',
  'API keys': 'API-ключи',
  Webhooks: 'Вебхуки',
  Users: 'Пользователи',
  'Change password': 'Сменить пароль',
  'Current password': 'Текущий пароль',
  'New password': 'Новый пароль',
  'At least 10 characters': 'Не короче 10 символов',
  'Password changed': 'Пароль изменён',
  Invite: 'Пригласить',
  Disabled: 'Отключён',
  Locked: 'Заблокирован',
  'Reset password': 'Сбросить пароль',
  Enable: 'Включить',
  Disable: 'Отключить',
  'No users yet.': 'Пользователей пока нет.',
  'Temporary password for {email}': 'Временный пароль для {email}',
  'Hand it over: it is shown only once. The user changes it after signing in.': 'Передайте его пользователю: он показывается один раз. После входа пользователь его сменит.',
  'Audit log': 'Журнал аудита',
  'Messages in the last 24 hours': 'Сообщения за последние 24 часа',
  'Messages today': 'Сообщения за сегодня',
  Total: 'Всего',
  'Delivery rate': 'Доля доставленных',
  'Connector health': 'Состояние подключений',
  'Connector health is visible to platform administrators and staff.': 'Состояние подключений видят администраторы и сотрудники платформы.',
  Connector: 'Подключение',
  Type: 'Тип',
  Status: 'Статус',
  Links: 'Линии',
  Enabled: 'Включено',
  yes: 'да',
  no: 'нет',
  Recipients: 'Получатели',
  'One number per line, or separated by commas': 'Один номер в строке или через запятую',
  Sender: 'Отправитель',
  'optional: a registered sender name': 'необязательно: зарегистрированное имя отправителя',
  Text: 'Текст',
  '{characters} characters · {parts} of {max} parts · {encoding}': '{characters} симв. · {parts} из {max} частей · {encoding}',
  'Send to {n} numbers': 'Отправить на {n} номеров',
  'Send message': 'Отправить',
  'Message accepted': 'Сообщение принято',
  '{accepted} accepted, {rejected} refused': 'Принято: {accepted}, отклонено: {rejected}',
  'Viewers cannot send messages.': 'Наблюдатель не может отправлять сообщения.',
  Number: 'Номер',
  'All statuses': 'Все статусы',
  From: 'С',
  Until: 'По',
  Search: 'Найти',
  Reset: 'Сбросить',
  Created: 'Создано',
  To: 'Кому',
  Parts: 'Частей',
  'No messages match. Change the filters or send one.': 'Сообщений не найдено. Измените фильтры или отправьте сообщение.',
  Newer: 'Новее',
  'Export CSV': 'Выгрузить CSV',
  'Export XLSX': 'Выгрузить XLSX',
  Older: 'Старше',
  'Live: updates as they happen': 'Онлайн: обновляется само',
  Message: 'Сообщение',
  'Status timeline': 'История статусов',
  Reason: 'Причина',
  Encoding: 'Кодировка',
  Operator: 'Оператор',
  'Provider code': 'Код провайдера',
  Back: 'Назад',
  Name: 'Название',
  Prefix: 'Префикс',
  Role: 'Роль',
  Revoked: 'Отозван',
  Active: 'Действует',
  'Create key': 'Создать ключ',
  Revoke: 'Отозвать',
  'Revoke key {name}?': 'Отозвать ключ {name}?',
  'Programs using it will get 401 from now on.': 'Программы с этим ключом начнут получать 401.',
  Cancel: 'Отмена',
  'Your new API key': 'Ваш новый API-ключ',
  'Copy it now: it is shown only once.': 'Скопируйте его сейчас: он показывается один раз.',
  Copy: 'Копировать',
  Copied: 'Скопировано',
  Done: 'Готово',
  'No API keys yet.': 'Ключей пока нет.',
  'Key revoked': 'Ключ отозван',
  Project: 'Проект',
  'Any project': 'Любой проект',
  'A key of a project sends its messages in that project only': 'Ключ проекта отправляет сообщения только в этом проекте',
  URL: 'URL',
  Events: 'События',
  'Create webhook': 'Создать вебхук',
  'Signing secret': 'Секрет подписи',
  Deliveries: 'Доставки',
  'No deliveries yet.': 'Доставок пока нет.',
  'No webhooks yet.': 'Вебхуков пока нет.',
  Failing: 'Сбоит',
  'HTTP status': 'HTTP-статус',
  Latency: 'Задержка',
  Error: 'Ошибка',
  When: 'Когда',
  Actor: 'Кто',
  Action: 'Действие',
  Target: 'Объект',
  Outcome: 'Итог',
  'Nothing recorded yet.': 'Записей пока нет.',
  'Something went wrong': 'Что-то пошло не так',
  'Read only: your role is viewer.': 'Только просмотр: ваша роль — наблюдатель.',
  administrator: 'администратор',
  staff: 'сотрудник платформы',
  owner: 'владелец',
  manager: 'менеджер',
  viewer: 'наблюдатель',
  'Exports': 'Выгрузки',
  'Sender names': 'Имена отправителей',
  'SMPP credentials': 'SMPP-логины',
  'Connectors and routes': 'Подключения и маршруты',
  'Settings': 'Настройки',
  'Connector {id} added': 'Подключение {id} добавлено',
  'Id': 'Идентификатор',
  'lower-case letters, digits, "_" and "-"': 'строчные латинские буквы, цифры, «_» и «-»',
  'Add connector': 'Добавить подключение',
  'Route dry run': 'Пробный подбор маршрута',
  'Number to try': 'Номер для проверки',
  'Try': 'Проверить',
  'Route': 'Маршрут',
  'in rotation': 'в работе',
  'off': 'выключено',
  'Connectors and routes are shared by the whole gateway: platform administrators and staff manage them.': 'Подключения и маршруты общие для всего шлюза: ими управляют администраторы и сотрудники платформы.',
  'A connector switched off takes no traffic: its routes send to their next connector. A route switched off matches no message: they take the next matching route.':
    'Выключенное подключение не получает трафик: его маршруты отправляют через следующее подключение. Выключенный маршрут не подходит ни одному сообщению: они идут по следующему подходящему маршруту.',
  Kind: 'Вид',
  Event: 'Событие',
  'Webhooks sent': 'Отправленные вебхуки',
  'No webhooks for this message: the account has no subscription for its events.': 'Вебхуков по этому сообщению нет: у аккаунта нет подписки на его события.',
  Attempts: 'Попытки',
  Finished: 'Завершено',
  Delivered: 'Доставлено',
  Price: 'Цена',
  'Provider id': 'Id у провайдера',
  Sent: 'Отправлено',
  'Traffic type': 'Тип трафика',
  'New key': 'Новый ключ',
  'stored; leave empty to keep it': 'сохранено; оставьте пустым, чтобы не менять',
  'not a valid name, or taken': 'недопустимое или занятое имя',
  Add: 'Добавить',
  'Connector {id} saved': 'Подключение {id} сохранено',
  'What {name} needs': 'Что нужно для {name}',
  'More settings': 'Другие настройки',
  Edit: 'Изменить',
  'Edit connector {id}': 'Изменение подключения {id}',
  'Routes': 'Маршруты',
  'Connectors, in order': 'Подключения по порядку',
  'Channel': 'Канал',
  'Prefixes': 'Префиксы',
  'Accounts': 'Аккаунты',
  'every number': 'любой номер',
  'all': 'все',
  'Remove': 'Удалить',
  'config file': 'файл конфигурации',
  'No routes: every message goes to the sandbox. Add one below.': 'Маршрутов нет: все сообщения идут в песочницу. Добавьте маршрут ниже.',
  'Connectors, in failover order': 'Подключения в порядке резервирования',
  'Add route': 'Добавить маршрут',
  'No messages yet today.': 'Сегодня сообщений ещё нет.',
  'Throughput, messages a minute': 'Пропускная способность, сообщений в минуту',
  'Latency, ms (mean a minute)': 'Задержка, мс (среднее за минуту)',
  'to the provider': 'до провайдера',
  'to the receipt': 'до отчёта о доставке',
  'No messages yet today. Send one from the Send page or through the API.': 'Сегодня сообщений ещё нет. Отправьте сообщение со страницы «Отправка» или через API.',
  'By channel': 'По каналам',
  'By operator': 'По операторам',
  'Large reports are written in the background: start one from History or Reports with "Export in background", then download it here when it is ready.': 'Большие отчёты готовятся в фоне: запустите выгрузку в «Истории» или «Отчётах» кнопкой «Выгрузить в фоне» и скачайте её здесь, когда она будет готова.',
  'Format': 'Формат',
  'Filters': 'Фильтры',
  'Rows': 'Строк',
  'Size': 'Размер',
  'all messages': 'все сообщения',
  'Download': 'Скачать',
  'No exports yet. Start one from History or Reports.': 'Выгрузок пока нет. Запустите выгрузку в «Истории» или «Отчётах».',
  'Export in background': 'Выгрузить в фоне',
  '{file}: no numbers found. Put them in the first column, or in a column named phone.': '{file}: номера не найдены. Поместите их в первый столбец или в столбец с заголовком phone.',
  '{file}: {n} numbers added': '{file}: добавлено номеров: {n}',
  '{file} could not be read: {error}': 'Не удалось прочитать {file}: {error}',
  'Upload CSV or XLSX': 'Загрузить CSV или XLSX',
  '{n} recipients': 'Получателей: {n}',
  '{n} numbers were refused': 'Отклонено номеров: {n}',
  'Sender name': 'Имя отправителя',
  '1–11 Latin letters and digits, or a number': '1–11 латинских букв и цифр или номер',
  'Operators': 'Операторы',
  'empty: every operator': 'пусто: все операторы',
  'Register': 'Зарегистрировать',
  'every operator': 'все операторы',
  'No sender names yet. Register one to send from it.': 'Имён отправителя пока нет. Зарегистрируйте имя, чтобы отправлять от него.',
  'Your own SMPP clients bind to the gateway with these logins.': 'С этими логинами ваши SMPP-клиенты подключаются к шлюзу.',
  'System ID': 'System ID',
  '6–8 characters': '6–8 символов',
  'Allowed addresses': 'Разрешённые адреса',
  'empty: any': 'пусто: любые',
  'Submits per second': 'Отправок в секунду',
  'Create': 'Создать',
  'Binds': 'Соединения',
  'any': 'любые',
  'No SMPP logins yet.': 'SMPP-логинов пока нет.',
  'SMPP login created': 'SMPP-логин создан',
  'The password is stored hashed and is not shown again.': 'Пароль хранится в виде хеша и больше не будет показан.',
  'Two capital letters, e.g. RU': 'Две заглавные буквы, например RU',
  'Settings saved': 'Настройки сохранены',
  'Only an owner changes the account settings.': 'Настройки аккаунта меняет только владелец.',
  'Time zone': 'Часовой пояс',
  'Dates in reports, in the cabinet for users who chose no zone of their own, and quiet hours when the recipient\'s zone is unknown':
    'Даты в отчётах, в кабинете у пользователей, не выбравших свой пояс, а также тихие часы, когда пояс получателя неизвестен',
  'For you': 'Для вас',
  'For the account': 'Для аккаунта',
  'Your time zone': 'Ваш часовой пояс',
  'Dates in the cabinet are shown in it; empty: in the account\'s ({zone})': 'Даты в кабинете показываются в нём; если не выбран — в поясе аккаунта ({zone})',
  'As the account: {zone}': 'Как у аккаунта: {zone}',
  'Your time zone is saved': 'Ваш часовой пояс сохранён',
  'Use the account\'s time zone': 'Использовать пояс аккаунта',
  'Default region': 'Регион по умолчанию',
  'For numbers written without a country code (ISO 3166, e.g. RU)': 'Для номеров без кода страны (ISO 3166, например RU)',
  'Quiet hours for advertising': 'Тихие часы для рекламы',
  'Advertising is held through quiet hours in the recipient\'s time zone.': 'Реклама задерживается на время тихих часов в часовом поясе получателя.',
  'Save': 'Сохранить',
  '{n} deliveries queued again': 'Повторно поставлено доставок: {n}',
  'Replay': 'Отправить снова',
  'running': 'выполняется',
  'ready': 'готово',
  'pending': 'на рассмотрении',
  'approved': 'одобрено',
  'unknown': 'неизвестен',
  Group: 'Группа',
  Reports: 'Отчёты',
  'Delivery report': 'Отчёт о доставке',
  'Delivery time': 'Время доставки',
  'Every message the filters match, with what its delivery report says. Export the same rows as CSV or XLSX; large ones in the background.': 'Все сообщения, подходящие под фильтры, с тем, что сказано в отчёте о доставке. Те же строки можно выгрузить в CSV или XLSX, большие — в фоне.',
  service: 'сервисный',
  transactional: 'транзакционный',
  advertising: 'рекламный',
  informational: 'информационный',
  accepted: 'принято',
  queued: 'в очереди',
  sent: 'отправлено',
  delivered: 'доставлено',
  read: 'прочитано',
  undelivered: 'не доставлено',
  failed: 'ошибка',
  expired: 'истекло',
  rejected: 'отклонено',
  cancelled: 'отменено',
  // Modules (C2): the platform's channels and integrations on the Connectors and routes page.
  Connectors: 'Подключения',
  Modules: 'Модули',
  Module: 'Модуль',
  'What it serves': 'Что обслуживает',
  'Last switched': 'Последнее переключение',
  channel: 'канал',
  integration: 'интеграция',
  never: 'никогда',
  'SMS messages': 'SMS-сообщения',
  'Telegram messages': 'Сообщения в Telegram',
  'WhatsApp messages': 'Сообщения в WhatsApp',
  'Viber messages': 'Сообщения в Viber',
  'E-mail messages': 'Письма по электронной почте',
  'Voice calls': 'Голосовые звонки',
  'The compatibility API of seed 001 (/api/v1)': 'API совместимости seed 001 (/api/v1)',
  'The compatibility API of seed 004 (/project, /client, /mailing)': 'API совместимости seed 004 (/project, /client, /mailing)',
  'The SMPP server for customers: new binds are refused, open ones stay': 'SMPP-сервер для клиентов: новые подключения (bind) отклоняются, открытые остаются',
  'Verification codes (/v1/verifications)': 'Коды подтверждения (/v1/verifications)',
  'Mailings: running ones hold until switched on again': 'Рассылки: идущие приостанавливаются до повторного включения',
  'A channel switched off refuses new messages on it (channel_disabled); an integration switched off stops answering. Messages accepted before still go. Other nodes follow within 2 seconds.':
    'Отключённый канал отклоняет новые сообщения (channel_disabled); отключённая интеграция перестаёт отвечать. Уже принятые сообщения отправляются. Другие узлы подхватывают изменение в течение 2 секунд.',
};

interface I18n {
  lang: Lang;
  setLang(lang: Lang): void;
  t(phrase: string, values?: Record<string, string | number>): string;
  /** the time zone dates are shown in: the user's own, else the account's (settings), else the browser's */
  timeZone: string;
  setTimeZone(zone: string | null): void;
  /** a date-time in that time zone and the user's language */
  dateTime(iso: string | null | undefined): string;
  /** a short time of day (charts) */
  time(iso: string): string;
  /** the start (or the end) of a calendar day (YYYY-MM-DD) in that time zone, as an instant */
  dayBound(day: string, end: boolean): string | undefined;
  /** today's date in that time zone (YYYY-MM-DD) */
  today(offsetDays?: number): string;
}

const I18nContext = createContext<I18n | null>(null);
const STORAGE_KEY = 'depesha.lang';

function initialLang(): Lang {
  const stored = localStorage.getItem(STORAGE_KEY);
  if (stored === 'en' || stored === 'ru') return stored;
  return navigator.language.toLowerCase().startsWith('ru') ? 'ru' : 'en';
}

export function I18nProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(initialLang);
  const [zone, setZone] = useState<string | null>(null);
  const value = useMemo<I18n>(() => {
    const timeZone = zone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
    const locale = lang === 'ru' ? 'ru-RU' : 'en-GB';
    const format = new Intl.DateTimeFormat(locale, { dateStyle: 'short', timeStyle: 'medium', timeZone });
    const short = new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit', timeZone });
    return {
      lang,
      timeZone,
      setTimeZone: (next) => setZone(next),
      time: (iso) => short.format(new Date(iso)),
      dayBound(day, end) {
        if (!day) return undefined;
        const start = dayjs.tz(day, timeZone);
        return (end ? start.add(1, 'day').subtract(1, 'millisecond') : start).toISOString();
      },
      today: (offsetDays = 0) => dayjs().tz(timeZone).add(offsetDays, 'day').format('YYYY-MM-DD'),
      setLang(next) {
        localStorage.setItem(STORAGE_KEY, next);
        document.documentElement.lang = next;
        setLangState(next);
      },
      t(phrase, values) {
        const text = lang === 'ru' ? (RU[phrase] ?? phrase) : phrase;
        return values ? text.replace(/\{(\w+)\}/g, (m, k: string) => (k in values ? String(values[k]) : m)) : text;
      },
      dateTime: (iso) => (iso ? format.format(new Date(iso)) : '—'),
    };
  }, [lang, zone]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  const i18n = useContext(I18nContext);
  if (!i18n) throw new Error('useI18n outside I18nProvider');
  return i18n;
}
