import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { timeZoneOfRegion } from './region-time-zones.ts';

test('every region of the numbering-plan registry has a time zone, except the federal ranges', () => {
  const file = new URL('../../../shared/data/DEF-9xx.csv', import.meta.url);
  const regions = new Set(
    readFileSync(file, 'utf8')
      .replace(/^\uFEFF/, '')
      .split('\n')
      .slice(1)
      .filter((line) => line.trim() !== '')
      .map((line) => line.split(';').at(-2)!),
  );
  assert.ok(regions.size > 100, `read ${regions.size} regions`);
  const missing = [...regions].filter((r) => r !== 'Российская Федерация' && timeZoneOfRegion(r) === null);
  assert.deepEqual(missing, []);
  assert.equal(timeZoneOfRegion('Российская Федерация'), null);
  for (const zone of new Set([...regions].map(timeZoneOfRegion))) if (zone) assert.doesNotThrow(() => new Intl.DateTimeFormat('en', { timeZone: zone }), zone);
});

test('regions that look alike get their own zones', () => {
  assert.equal(timeZoneOfRegion('Краснодарский край'), 'Europe/Moscow');
  assert.equal(timeZoneOfRegion('Красноярский край'), 'Asia/Krasnoyarsk');
  assert.equal(timeZoneOfRegion('Ямало-Ненецкий АО'), 'Asia/Yekaterinburg');
  assert.equal(timeZoneOfRegion('Ненецкий АО'), 'Europe/Moscow');
  assert.equal(timeZoneOfRegion('Архангельская область и Ненецкий автономный округ'), 'Europe/Moscow');
  assert.equal(timeZoneOfRegion('г. Норильск|Красноярский край'), 'Asia/Krasnoyarsk');
  assert.equal(timeZoneOfRegion('Республика Саха /Якутия/'), 'Asia/Yakutsk');
  assert.equal(timeZoneOfRegion('Калининградская обл.'), 'Europe/Kaliningrad');
  assert.equal(timeZoneOfRegion('Камчатский край'), 'Asia/Kamchatka');
  assert.equal(timeZoneOfRegion(null), null);
  assert.equal(timeZoneOfRegion('Atlantis'), null);
});
