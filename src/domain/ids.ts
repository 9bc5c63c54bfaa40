import { encodeTime, monotonicFactory } from 'ulid';

/** Type prefixes of our opaque ids (API conventions: `msg_…`, `bat_…`, …). */
export type IdPrefix = 'msg' | 'bat' | 'key' | 'acc' | 'usr' | 'evt' | 'req' | 'urc' | 'smc' | 'inb' | 'rte' | 'snd' | 'whk' | 'whd' | 'wha' | 'ses' | 'aud' | 'ver' | 'prj' | 'cnt' | 'tpl' | 'mlg' | 'led' | 'prc' | 'cip' | 'lst' | 'exp' | 'trg' | 'tre' | 'seg' | 'imp';

/**
 * ulid's default PRNG asks the OS for randomness once per character (16 calls
 * for each new millisecond); this one draws 4 KiB at a time and hands it out.
 */
const pool = new Uint32Array(1024);
let used = pool.length;
function pooledRandom(): number {
  if (used === pool.length) {
    crypto.getRandomValues(pool);
    used = 0;
  }
  return pool[used++]! / 2 ** 32;
}

const next = monotonicFactory(pooledRandom);

/** A new id: type prefix and a time-sortable, monotonic ULID body. */
export function newId(prefix: IdPrefix, nowMs: number = Date.now()): string {
  return `${prefix}_${next(nowMs)}`;
}

/**
 * The smallest and largest id that a time could have, so a period filter is an
 * id range on the primary key instead of a second index on a timestamp.
 */
export function idBoundsAt(prefix: IdPrefix, ms: number): { lowest: string; highest: string } {
  const time = encodeTime(Math.max(0, Math.min(ms, 2 ** 48 - 1)), 10);
  return { lowest: `${prefix}_${time}0000000000000000`, highest: `${prefix}_${time}ZZZZZZZZZZZZZZZZ` };
}
