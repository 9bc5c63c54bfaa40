import type { Kysely } from 'kysely';
import { newId } from '../domain/ids.ts';
import { matchesSegment, type SegmentFilter } from '../domain/segments.ts';
import { presentContactRow, type Contact } from './contacts.ts';
import type { DB, SegmentsTable } from './schema.ts';

export interface Segment {
  id: string;
  project_id: string;
  name: string;
  filter: SegmentFilter;
  created_at: number;
  updated_at: number;
}

const present = (row: SegmentsTable): Segment => ({ id: row.id, project_id: row.project_id, name: row.name, filter: JSON.parse(row.filter) as SegmentFilter, created_at: row.created_at, updated_at: row.updated_at });

/** Where a mailing's contacts come from: a list, a segment, or (neither) every contact of the project. */
export interface AudienceSource {
  accountId: string;
  projectId: string;
  listId: string | null;
  filter: SegmentFilter | null;
}

/** One page of an audience: the contacts in it, and the last contact id looked at (the next page starts after it). */
export interface AudiencePage {
  contacts: Contact[];
  lastId: string;
  /** no contact after lastId */
  done: boolean;
}

/**
 * Reads an audience a page at a time in contact id order (keyset: `id > after`),
 * so a mailing never holds more than a page of it. A segment's filter is
 * applied to each page as it is read.
 */
export async function audiencePage(db: Kysely<DB>, source: AudienceSource, afterId: string, scan: number): Promise<AudiencePage> {
  const rows = await audienceContacts(db, source).selectAll('c').where('c.id', '>', afterId).orderBy('c.id', 'asc').limit(scan).execute();
  const contacts = rows.map(presentContactRow);
  const filter = source.filter;
  return {
    contacts: filter === null ? contacts : contacts.filter((c) => matchesSegment(c, filter)),
    lastId: rows.length > 0 ? rows[rows.length - 1]!.id : afterId,
    done: rows.length < scan,
  };
}

/** The contacts of an audience's project, only its list's members when it has a list (a segment's filter is not SQL: it is applied by the reader). */
function audienceContacts(db: Kysely<DB>, source: AudienceSource) {
  let q = db.selectFrom('contacts as c').where('c.account_id', '=', source.accountId).where('c.project_id', '=', source.projectId);
  if (source.listId !== null) {
    const listId = source.listId;
    q = q.where((eb) => eb.exists(eb.selectFrom('contact_list_members as m').select('m.contact_id').where('m.list_id', '=', listId).where('m.account_id', '=', source.accountId).whereRef('m.contact_id', '=', 'c.id')));
  }
  return q;
}

/**
 * How many contacts the audience holds now, in one COUNT over the index its
 * pages are read by; null for a segment, whose filter is evaluated contact by
 * contact as pages are read (JSON attributes, case-insensitive and numeric
 * comparisons), so counting it means walking every contact of the project
 * (`SegmentsRepository.count`): seconds for a million, which the runner does
 * not spend before a run's first message.
 */
export async function audienceCount(db: Kysely<DB>, source: AudienceSource): Promise<number | null> {
  if (source.filter !== null) return null;
  const row = await audienceContacts(db, source).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** An account's saved segments; every query takes the account id. */
export class SegmentsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async create(accountId: string, input: { project_id: string; name: string; filter: SegmentFilter }, now = Date.now()): Promise<Segment> {
    const row: SegmentsTable = { id: newId('seg', now), account_id: accountId, project_id: input.project_id, name: input.name, filter: JSON.stringify(input.filter), created_at: now, updated_at: now };
    await this.#db.insertInto('segments').values(row).execute();
    return present(row);
  }

  async get(accountId: string, id: string): Promise<Segment | undefined> {
    const row = await this.#db.selectFrom('segments').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
    return row && present(row);
  }

  async list(accountId: string, options: { projectId?: string | undefined; beforeId?: string | undefined; limit: number }): Promise<Segment[]> {
    let q = this.#db.selectFrom('segments').selectAll().where('account_id', '=', accountId);
    if (options.projectId) q = q.where('project_id', '=', options.projectId);
    if (options.beforeId) q = q.where('id', '<', options.beforeId);
    return (await q.orderBy('id', 'desc').limit(options.limit).execute()).map(present);
  }

  async update(accountId: string, id: string, patch: { name?: string | undefined; filter?: SegmentFilter | undefined }, now = Date.now()): Promise<Segment | undefined> {
    await this.#db
      .updateTable('segments')
      .set({ updated_at: now, ...(patch.name === undefined ? {} : { name: patch.name }), ...(patch.filter === undefined ? {} : { filter: JSON.stringify(patch.filter) }) })
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .execute();
    return this.get(accountId, id);
  }

  /** Whether it was deleted; a segment a mailing still uses is kept (`in_use`). */
  async delete(accountId: string, id: string): Promise<'deleted' | 'not_found' | 'in_use'> {
    const used = await this.#db.selectFrom('mailings').select('id').where('account_id', '=', accountId).where('segment_id', '=', id).where('status', 'not in', ['finished', 'cancelled']).executeTakeFirst();
    if (used) return 'in_use';
    const result = await this.#db.deleteFrom('segments').where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0 ? 'deleted' : 'not_found';
  }

  /**
   * How many of the project's contacts the segment holds, and the first few
   * of them, read a page at a time (the count walks the whole project).
   */
  async count(accountId: string, segment: Segment, sampleSize: number, pageSize = 2000): Promise<{ count: number; sample: Contact[] }> {
    const source: AudienceSource = { accountId, projectId: segment.project_id, listId: null, filter: segment.filter };
    let after = '';
    let count = 0;
    const sample: Contact[] = [];
    for (;;) {
      const page = await audiencePage(this.#db, source, after, pageSize);
      count += page.contacts.length;
      for (const c of page.contacts) if (sample.length < sampleSize) sample.push(c);
      if (page.done) return { count, sample };
      after = page.lastId;
    }
  }
}
