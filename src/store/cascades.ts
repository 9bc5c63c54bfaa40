import type { Kysely } from 'kysely';
import { CASCADE_TIMER_CONDITION } from './migrations/016-cascades.ts';
import type { MessageRow } from './messages.ts';
import type { CascadesTable, DB } from './schema.ts';
import { inLists, insertChunks } from './shapes.ts';

export type CascadeRow = CascadesTable;

/** What a step waits for before the cascade stops: `delivered` (or read), or `read` only. */
export type CascadeUntil = 'delivered' | 'read';

/**
 * The message a step sends, prepared (and checked) when the parent was
 * accepted, priced then too: `price_minor` per part (absent: free) and the
 * template it matched. A later step is reserved when it starts, at this price.
 */
export type StepMessage = Pick<MessageRow, 'channel' | 'recipient' | 'sender' | 'body' | 'encoding' | 'characters' | 'parts_count' | 'operator' | 'region'> & {
  content: string | null;
  price_minor?: number | undefined;
  template_id?: string | undefined;
};

/** One step as stored in `cascades.steps`. */
export interface CascadeStepSpec {
  channel: string;
  until: CascadeUntil;
  /** null on the last step: it runs until its message is final */
  timeout_seconds: number | null;
  /** the connector the step's message must go by; null: the route of its channel */
  connector: string | null;
  message: StepMessage;
  /** the recipient's time zone when it was known at accept (a mailing's contact): a later step's quiet hours are in it, as the first step's were */
  time_zone?: string | undefined;
  /** set on the steps after the running one when the cascade was told to go no further (its verification ended) */
  dropped?: true | undefined;
}

/** The number of the cascade's last step that may run: steps dropped at the end do not count. */
export function lastStep(steps: readonly Pick<CascadeStepSpec, 'dropped'>[]): number {
  const first = steps.findIndex((s) => s.dropped);
  return first === -1 ? steps.length : first;
}

/** A cascade's parent is never claimed by a sender: its due time never comes. */
export const PARENT_DUE_AT = Number.MAX_SAFE_INTEGER;

export function parseSteps(row: Pick<CascadeRow, 'steps'>): CascadeStepSpec[] {
  return JSON.parse(row.steps) as CascadeStepSpec[];
}

/** Cascade rows. The pipeline's writes take the caller's transaction; reads for the API name the account. */
export class CascadesRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /** Inserts new cascades in the caller's transaction (with their parents and first steps). */
  static async insert(tx: Kysely<DB>, rows: readonly CascadeRow[]): Promise<void> {
    await insertChunks(tx, 'cascades', rows);
  }

  /** The cascades of these parents, in the caller's transaction. */
  static async byIds(tx: Kysely<DB>, ids: readonly string[]): Promise<CascadeRow[]> {
    const out: CascadeRow[] = [];
    for (const list of inLists([...new Set(ids)])) out.push(...(await tx.selectFrom('cascades').selectAll().where('id', 'in', list).execute()));
    return out;
  }

  /** Running cascades whose timer falls before `until`, soonest first (the due index). */
  async timersBefore(until: number, limit: number): Promise<{ id: string; timer_at: number }[]> {
    const rows = await this.#db.selectFrom('cascades').select(['id', 'timer_at']).where(CASCADE_TIMER_CONDITION).where('timer_at', '<=', until).orderBy('timer_at').limit(limit).execute();
    return rows.map((r) => ({ id: r.id, timer_at: r.timer_at! }));
  }

  async get(accountId: string, id: string): Promise<CascadeRow | undefined> {
    return this.#db.selectFrom('cascades').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  }

  /** The messages of a parent's steps, in step order (a step has at most one). */
  async children(accountId: string, parentId: string): Promise<MessageRow[]> {
    return this.#db.selectFrom('messages').selectAll().where('account_id', '=', accountId).where('parent_id', '=', parentId).orderBy('cascade_step').execute();
  }
}
