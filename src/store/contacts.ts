import type { Kysely } from 'kysely';
import { newId } from '../domain/ids.ts';
import { isValidTimeZone } from '../domain/quiet-hours.ts';
import { parseGender, type ContactFields, type Gender } from '../domain/templates.ts';
import type { ErrorDetail } from '../errors.ts';
import { normalizePhone } from '../sms/phone.ts';
import type { ContactsTable, DB } from './schema.ts';

export type AttributeValue = string | number | boolean | null;

/** A contact as the API shows it. */
export interface Contact {
  id: string;
  project_id: string;
  guid: string | null;
  first_name: string | null;
  last_name: string | null;
  middle_name: string | null;
  gender: Gender | null;
  phones: string[];
  emails: string[];
  messenger_ids: Record<string, string>;
  time_zone: string | null;
  attributes: Record<string, AttributeValue>;
  consent: Record<string, boolean>;
  blocked: boolean;
  created_at: number;
  updated_at: number;
}

/** What a client gives for a contact, before normalisation; absent fields are left as they are on update. */
export interface ContactInput {
  guid?: string | null | undefined;
  first_name?: string | null | undefined;
  last_name?: string | null | undefined;
  middle_name?: string | null | undefined;
  gender?: string | null | undefined;
  phones?: string[] | undefined;
  emails?: string[] | undefined;
  messenger_ids?: Record<string, string> | undefined;
  time_zone?: string | null | undefined;
  attributes?: Record<string, AttributeValue> | undefined;
  consent?: Record<string, boolean> | undefined;
  blocked?: boolean | undefined;
}

/** The columns a normalised input sets. */
export type ContactPatch = Partial<Omit<ContactsTable, 'id' | 'account_id' | 'project_id' | 'created_at' | 'updated_at'>>;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * Checks and normalises a contact: phones to E.164, e-mails to lower case,
 * gender to male/female, the time zone to an IANA name. Returns the columns
 * to write, or every problem with its field.
 */
export function normalizeContact(input: ContactInput, defaultRegion: string, prefix = ''): { ok: true; patch: ContactPatch } | { ok: false; details: ErrorDetail[] } {
  const details: ErrorDetail[] = [];
  const patch: ContactPatch = {};
  const text = (v: string | null | undefined) => (v === undefined ? undefined : v === null || v.trim() === '' ? null : v.trim());
  for (const name of ['guid', 'first_name', 'last_name', 'middle_name'] as const) {
    const value = text(input[name]);
    if (value !== undefined) patch[name] = value;
  }
  if (input.gender !== undefined) {
    const gender = parseGender(input.gender);
    if (gender === undefined) details.push({ field: `${prefix}gender`, issue: 'must be male or female (or empty)' });
    else patch.gender = gender;
  }
  if (input.phones !== undefined) {
    const phones: string[] = [];
    input.phones.forEach((raw, i) => {
      const phone = normalizePhone(raw, defaultRegion);
      if (!phone.ok) details.push({ field: `${prefix}phones.${i}`, issue: `"${raw}" is not a valid phone number: ${phone.issue}` });
      else if (!phones.includes(phone.e164)) phones.push(phone.e164);
    });
    patch.phones = JSON.stringify(phones);
  }
  if (input.emails !== undefined) {
    const emails: string[] = [];
    input.emails.forEach((raw, i) => {
      const email = raw.trim().toLowerCase();
      if (!EMAIL.test(email)) details.push({ field: `${prefix}emails.${i}`, issue: `"${raw}" is not an e-mail address` });
      else if (!emails.includes(email)) emails.push(email);
    });
    patch.emails = JSON.stringify(emails);
  }
  if (input.time_zone !== undefined) {
    const zone = text(input.time_zone);
    if (zone && !isValidTimeZone(zone)) details.push({ field: `${prefix}time_zone`, issue: `${zone} is not an IANA time zone (like Europe/Moscow)` });
    else patch.time_zone = zone ?? null;
  }
  if (input.messenger_ids !== undefined) patch.messenger_ids = JSON.stringify(input.messenger_ids);
  if (input.attributes !== undefined) patch.attributes = JSON.stringify(input.attributes);
  if (input.consent !== undefined) patch.consent = JSON.stringify(input.consent);
  if (input.blocked !== undefined) patch.blocked = input.blocked ? 1 : 0;
  return details.length > 0 ? { ok: false, details } : { ok: true, patch };
}

export function presentContactRow(row: ContactsTable): Contact {
  return {
    id: row.id,
    project_id: row.project_id,
    guid: row.guid,
    first_name: row.first_name,
    last_name: row.last_name,
    middle_name: row.middle_name,
    gender: row.gender === 'male' || row.gender === 'female' ? row.gender : null,
    phones: JSON.parse(row.phones) as string[],
    emails: JSON.parse(row.emails) as string[],
    messenger_ids: JSON.parse(row.messenger_ids) as Record<string, string>,
    time_zone: row.time_zone,
    attributes: JSON.parse(row.attributes) as Record<string, AttributeValue>,
    consent: JSON.parse(row.consent) as Record<string, boolean>,
    blocked: row.blocked === 1,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** What a template sees of a contact. */
export function contactFields(c: Contact): ContactFields {
  return { ...c };
}

export class ContactGuidTakenError extends Error {
  constructor(guid: string) {
    super(`the project has a contact with guid ${guid} already`);
    this.name = 'ContactGuidTakenError';
  }
}

/** What a new contact has in the columns it was not given. */
export const CONTACT_DEFAULTS: Omit<ContactsTable, 'id' | 'account_id' | 'project_id' | 'created_at' | 'updated_at'> = {
  guid: null,
  first_name: null,
  last_name: null,
  middle_name: null,
  gender: null,
  phones: '[]',
  emails: '[]',
  messenger_ids: '{}',
  time_zone: null,
  attributes: '{}',
  consent: '{}',
  blocked: 0,
};

export interface ContactFilter {
  projectId?: string | undefined;
  phone?: string | undefined;
  guid?: string | undefined;
  beforeId?: string | undefined;
  afterId?: string | undefined;
  limit: number;
}

/** An account's contacts, by project; every query takes the account id. */
export class ContactsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async create(accountId: string, projectId: string, patch: ContactPatch, now = Date.now()): Promise<Contact> {
    const row: ContactsTable = { ...CONTACT_DEFAULTS, ...patch, id: newId('cnt', now), account_id: accountId, project_id: projectId, created_at: now, updated_at: now };
    // Checked first: inside a PostgreSQL transaction a failed insert leaves nothing to ask with.
    if (row.guid !== null && (await this.getByGuid(accountId, projectId, row.guid))) throw new ContactGuidTakenError(row.guid);
    try {
      await this.#db.insertInto('contacts').values(row).execute();
    } catch (err) {
      if (row.guid !== null && (await this.getByGuid(accountId, projectId, row.guid))) throw new ContactGuidTakenError(row.guid);
      throw err;
    }
    return presentContactRow(row);
  }

  /**
   * Creates the contact, or changes the given fields of the project's contact
   * with the same guid (how a CRM pushes its clients again and again).
   */
  async upsertByGuid(accountId: string, projectId: string, guid: string, patch: ContactPatch, now = Date.now()): Promise<{ contact: Contact; created: boolean }> {
    const existing = await this.getByGuid(accountId, projectId, guid);
    if (existing) return { contact: (await this.update(accountId, existing.id, patch, now))!, created: false };
    try {
      return { contact: await this.create(accountId, projectId, { ...patch, guid }, now), created: true };
    } catch (err) {
      if (!(err instanceof ContactGuidTakenError)) throw err;
      // Another request created it between our read and insert.
      const raced = (await this.getByGuid(accountId, projectId, guid))!;
      return { contact: (await this.update(accountId, raced.id, patch, now))!, created: false };
    }
  }

  async get(accountId: string, id: string): Promise<Contact | undefined> {
    const row = await this.#db.selectFrom('contacts').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
    return row && presentContactRow(row);
  }

  async getByGuid(accountId: string, projectId: string, guid: string): Promise<Contact | undefined> {
    const row = await this.#db.selectFrom('contacts').selectAll().where('account_id', '=', accountId).where('project_id', '=', projectId).where('guid', '=', guid).executeTakeFirst();
    return row && presentContactRow(row);
  }

  /** Newest first (beforeId), or oldest first from afterId (exports walk this way). */
  async list(accountId: string, filter: ContactFilter): Promise<Contact[]> {
    let q = this.#db.selectFrom('contacts').selectAll().where('account_id', '=', accountId);
    if (filter.projectId) q = q.where('project_id', '=', filter.projectId);
    if (filter.guid) q = q.where('guid', '=', filter.guid);
    // phones is a JSON array of E.164 strings: the quoted number is a whole element.
    if (filter.phone) q = q.where('phones', 'like', `%"${filter.phone}"%`);
    if (filter.beforeId) q = q.where('id', '<', filter.beforeId);
    if (filter.afterId !== undefined) q = q.where('id', '>', filter.afterId);
    const rows = await q.orderBy('id', filter.afterId !== undefined ? 'asc' : 'desc').limit(filter.limit).execute();
    return rows.map(presentContactRow);
  }

  /** Every contact of a project, oldest first, a page at a time: never the whole audience in memory. */
  async *stream(accountId: string, projectId: string, pageSize = 1000): AsyncGenerator<Contact> {
    let after = '';
    for (;;) {
      const page = await this.list(accountId, { projectId, afterId: after, limit: pageSize });
      yield* page;
      if (page.length < pageSize) return;
      after = page[page.length - 1]!.id;
    }
  }

  async update(accountId: string, id: string, patch: ContactPatch, now = Date.now()): Promise<Contact | undefined> {
    try {
      const result = await this.#db.updateTable('contacts').set({ ...patch, updated_at: now }).where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return undefined;
    } catch (err) {
      const current = patch.guid ? await this.get(accountId, id) : undefined;
      if (current && patch.guid && (await this.getByGuid(accountId, current.project_id, patch.guid))) throw new ContactGuidTakenError(patch.guid);
      throw err;
    }
    return this.get(accountId, id);
  }

  async delete(accountId: string, id: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('contacts').where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /**
   * Merges duplicates into one contact: phones, e-mails and messenger ids are
   * joined, blank names and attributes filled from the others, a refusal of
   * consent or a block on any of them is kept; the others are deleted.
   * Returns undefined when a contact is missing or in another project.
   */
  async merge(accountId: string, targetId: string, otherIds: readonly string[], now = Date.now()): Promise<Contact | undefined> {
    return this.#db.transaction().execute(async (tx) => {
      const rows = await tx.selectFrom('contacts').selectAll().where('account_id', '=', accountId).where('id', 'in', [targetId, ...otherIds]).execute();
      const target = rows.find((r) => r.id === targetId);
      const others = otherIds.map((id) => rows.find((r) => r.id === id));
      if (!target || others.some((o) => !o || o.project_id !== target.project_id)) return undefined;
      const all = [target, ...(others as ContactsTable[])].map(presentContactRow);
      const merged = all[0]!;
      for (const other of all.slice(1)) {
        merged.first_name ??= other.first_name;
        merged.last_name ??= other.last_name;
        merged.middle_name ??= other.middle_name;
        merged.gender ??= other.gender;
        merged.time_zone ??= other.time_zone;
        merged.guid ??= other.guid;
        merged.phones = [...new Set([...merged.phones, ...other.phones])];
        merged.emails = [...new Set([...merged.emails, ...other.emails])];
        merged.messenger_ids = { ...other.messenger_ids, ...merged.messenger_ids };
        merged.attributes = { ...other.attributes, ...merged.attributes };
        for (const [channel, agreed] of Object.entries(other.consent)) merged.consent[channel] = (merged.consent[channel] ?? true) && agreed;
        merged.blocked ||= other.blocked;
      }
      // The duplicates' list memberships move to the contact that stays.
      await tx
        .insertInto('contact_list_members')
        .columns(['list_id', 'contact_id', 'account_id', 'added_at'])
        .expression((eb) =>
          eb
            .selectFrom('contact_list_members')
            .select((s) => ['list_id', s.val(targetId).as('contact_id'), 'account_id', 'added_at'])
            .where('account_id', '=', accountId)
            .where('contact_id', 'in', [...otherIds]),
        )
        .onConflict((oc) => oc.columns(['list_id', 'contact_id']).doNothing())
        .execute();
      await tx.deleteFrom('contacts').where('account_id', '=', accountId).where('id', 'in', [...otherIds]).execute();
      await tx
        .updateTable('contacts')
        .set({
          guid: merged.guid,
          first_name: merged.first_name,
          last_name: merged.last_name,
          middle_name: merged.middle_name,
          gender: merged.gender,
          time_zone: merged.time_zone,
          phones: JSON.stringify(merged.phones),
          emails: JSON.stringify(merged.emails),
          messenger_ids: JSON.stringify(merged.messenger_ids),
          attributes: JSON.stringify(merged.attributes),
          consent: JSON.stringify(merged.consent),
          blocked: merged.blocked ? 1 : 0,
          updated_at: now,
        })
        .where('account_id', '=', accountId)
        .where('id', '=', targetId)
        .execute();
      return { ...merged, updated_at: now };
    });
  }
}
