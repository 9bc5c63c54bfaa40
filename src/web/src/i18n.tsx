import { createContext, useContext, useMemo, useState, type ReactNode } from 'react';

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
};

interface I18n {
  lang: Lang;
  setLang(lang: Lang): void;
  t(phrase: string, values?: Record<string, string | number>): string;
  /** a date-time in the user's time zone and language */
  dateTime(iso: string | null | undefined): string;
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
  const value = useMemo<I18n>(() => {
    const format = new Intl.DateTimeFormat(lang === 'ru' ? 'ru-RU' : 'en-GB', { dateStyle: 'short', timeStyle: 'medium' });
    return {
      lang,
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
  }, [lang]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  const i18n = useContext(I18nContext);
  if (!i18n) throw new Error('useI18n outside I18nProvider');
  return i18n;
}
