/**
 * The time zone of a Russian region as the numbering-plan registry names it
 * ("Ростовская обл.", "г. Москва * Московская область", "Республика Саха
 * /Якутия/"…). The registry writes the same region several ways, so regions
 * are recognised by a stem of their name, checked in this order (the first
 * stem found wins: "Ямало-Ненецкий" before "Ненецкий", "Красноярск" and
 * "Краснодар" apart). Russia has kept standard time all year since 2014.
 * Regions spanning several zones (Yakutia) get the zone of their capital.
 */
const STEMS: [stem: string, timeZone: string][] = [
  ['Калининград', 'Europe/Kaliningrad'],
  ['Ямало', 'Asia/Yekaterinburg'],
  ['Ханты', 'Asia/Yekaterinburg'],
  ['Сургут', 'Asia/Yekaterinburg'],
  ['Свердлов', 'Asia/Yekaterinburg'],
  ['Челябин', 'Asia/Yekaterinburg'],
  ['Тюмен', 'Asia/Yekaterinburg'],
  ['Курган', 'Asia/Yekaterinburg'],
  ['Оренбург', 'Asia/Yekaterinburg'],
  ['Перм', 'Asia/Yekaterinburg'],
  ['Башкорт', 'Asia/Yekaterinburg'],
  ['Абзелилов', 'Asia/Yekaterinburg'],
  ['Самар', 'Europe/Samara'],
  ['Удмурт', 'Europe/Samara'],
  ['Астрахан', 'Europe/Astrakhan'],
  ['Саратов', 'Europe/Saratov'],
  ['Ульянов', 'Europe/Ulyanovsk'],
  ['Волгоград', 'Europe/Volgograd'],
  ['Киров', 'Europe/Kirov'],
  ['Крым', 'Europe/Simferopol'],
  ['Севастопол', 'Europe/Simferopol'],
  ['Омск', 'Asia/Omsk'],
  ['Новосибир', 'Asia/Novosibirsk'],
  ['Томск', 'Asia/Tomsk'],
  ['Алтай', 'Asia/Barnaul'],
  ['Кемеров', 'Asia/Novokuznetsk'],
  ['Кузбасс', 'Asia/Novokuznetsk'],
  ['Красноярск', 'Asia/Krasnoyarsk'],
  ['Норильск', 'Asia/Krasnoyarsk'],
  ['Тыва', 'Asia/Krasnoyarsk'],
  ['Хакас', 'Asia/Krasnoyarsk'],
  ['Иркут', 'Asia/Irkutsk'],
  ['Бурят', 'Asia/Irkutsk'],
  ['Забайкал', 'Asia/Chita'],
  ['Якут', 'Asia/Yakutsk'],
  ['Амур', 'Asia/Yakutsk'],
  ['Примор', 'Asia/Vladivostok'],
  ['Хабаров', 'Asia/Vladivostok'],
  ['Еврейск', 'Asia/Vladivostok'],
  ['Магадан', 'Asia/Magadan'],
  ['Сахалин', 'Asia/Sakhalin'],
  ['Камчат', 'Asia/Kamchatka'],
  ['Коряк', 'Asia/Kamchatka'],
  ['Чукот', 'Asia/Anadyr'],
  // Everything else the registry names is on Moscow time.
  ...[
    'Москв', 'Московск', 'Петербург', 'Ленинград', 'Архангель', 'Ненецк', 'Белгород', 'Брянск', 'Владимир', 'Вологод', 'Воронеж', 'Иванов',
    'Кабардин', 'Калуж', 'Карачаев', 'Костром', 'Краснодар', 'Сочи', 'Курск', 'Липецк', 'Мурманск', 'Нижегород', 'Новгород', 'Орлов',
    'Пенз', 'Псков', 'Адыге', 'Дагестан', 'Ингуш', 'Калмык', 'Карел', 'Коми', 'Марий', 'Мордов', 'Осети', 'Татарстан', 'Чечен', 'Чуваш',
    'Ростов', 'Рязан', 'Смоленск', 'Ставропол', 'Тамбов', 'Твер', 'Тульск', 'Ярослав',
  ].map((stem): [string, string] => [stem, 'Europe/Moscow']),
];

/** The IANA time zone of a region named as in the registry, or null when it is not one region ("Российская Федерация") or unknown. */
export function timeZoneOfRegion(region: string | null | undefined): string | null {
  if (!region) return null;
  for (const [stem, timeZone] of STEMS) if (region.includes(stem)) return timeZone;
  return null;
}
