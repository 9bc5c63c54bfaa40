/**
 * Saved segments: filters on a contact's fields and custom attributes, its
 * consent for a channel, and the blocklist. Pure: evaluated against one
 * contact at a time, so an audience is filtered page by page and never held
 * whole.
 */

export const SEGMENT_OPERATORS = ['eq', 'ne', 'contains', 'gt', 'gte', 'lt', 'lte', 'exists', 'not_exists'] as const;
export type SegmentOperator = (typeof SEGMENT_OPERATORS)[number];

/** Fields a condition may name besides `attributes.<name>`. `phone` and `email` look at every phone or address. */
export const SEGMENT_FIELDS = ['guid', 'first_name', 'last_name', 'middle_name', 'gender', 'time_zone', 'phone', 'email'] as const;

export type SegmentValue = string | number | boolean | null;

export interface SegmentCondition {
  /** a standard field, or `attributes.<name>` for a custom attribute */
  field: string;
  op: SegmentOperator;
  /** absent for exists / not_exists */
  value?: SegmentValue | undefined;
}

export interface SegmentFilter {
  /** all must hold */
  conditions: SegmentCondition[];
  /** the contact must have consented to this channel (`consent[channel] === true`) */
  consent?: string | null | undefined;
}

/** What a segment looks at of a contact. */
export interface SegmentContact {
  guid: string | null;
  first_name: string | null;
  last_name: string | null;
  middle_name: string | null;
  gender: string | null;
  time_zone: string | null;
  phones: readonly string[];
  emails: readonly string[];
  attributes: Readonly<Record<string, SegmentValue>>;
  consent: Readonly<Record<string, boolean>>;
  blocked: boolean;
}

/** Why a filter cannot be saved (the field path and what is wrong), or null. */
export function segmentFilterProblem(filter: SegmentFilter): { field: string; issue: string } | null {
  for (const [i, c] of filter.conditions.entries()) {
    const at = `filter.conditions[${i}]`;
    const isAttribute = c.field.startsWith('attributes.') && c.field.length > 'attributes.'.length;
    if (!isAttribute && !(SEGMENT_FIELDS as readonly string[]).includes(c.field)) return { field: `${at}.field`, issue: `must be one of ${SEGMENT_FIELDS.join(', ')} or attributes.<name>` };
    const needsValue = c.op !== 'exists' && c.op !== 'not_exists';
    if (needsValue && c.value === undefined) return { field: `${at}.value`, issue: `is required with op ${c.op}` };
    if (!needsValue && c.value !== undefined) return { field: `${at}.value`, issue: `is not taken with op ${c.op}` };
    if (c.op === 'contains' && typeof c.value !== 'string') return { field: `${at}.value`, issue: 'must be a string with op contains' };
    if ((c.op === 'gt' || c.op === 'gte' || c.op === 'lt' || c.op === 'lte') && typeof c.value !== 'number' && typeof c.value !== 'string') return { field: `${at}.value`, issue: `must be a number or a string with op ${c.op}` };
  }
  return null;
}

function valuesOf(contact: SegmentContact, field: string): SegmentValue[] {
  if (field.startsWith('attributes.')) {
    const name = field.slice('attributes.'.length);
    return Object.hasOwn(contact.attributes, name) ? [contact.attributes[name]!] : [];
  }
  if (field === 'phone') return [...contact.phones];
  if (field === 'email') return [...contact.emails];
  const v = contact[field as 'guid'];
  return v === null || v === undefined ? [] : [v];
}

function compare(a: SegmentValue, b: SegmentValue): number | null {
  if (typeof b === 'number') {
    const n = typeof a === 'number' ? a : typeof a === 'string' && a.trim() !== '' ? Number(a) : NaN;
    return Number.isNaN(n) ? null : n - b;
  }
  if (typeof b === 'string' && (typeof a === 'string' || typeof a === 'number')) {
    const s = String(a);
    return s < b ? -1 : s > b ? 1 : 0;
  }
  return null;
}

function equal(a: SegmentValue, b: SegmentValue): boolean {
  if (typeof a === 'string' && typeof b === 'string') return a.toLowerCase() === b.toLowerCase();
  if (typeof a === 'number' && typeof b === 'string') return String(a) === b;
  if (typeof a === 'string' && typeof b === 'number') return a.trim() !== '' && Number(a) === b;
  return a === b;
}

function holds(contact: SegmentContact, c: SegmentCondition): boolean {
  const values = valuesOf(contact, c.field).filter((v) => v !== null);
  const value = c.value ?? null;
  switch (c.op) {
    case 'exists':
      return values.length > 0;
    case 'not_exists':
      return values.length === 0;
    case 'eq':
      return value === null ? values.length === 0 : values.some((v) => equal(v, value));
    case 'ne':
      return value === null ? values.length > 0 : !values.some((v) => equal(v, value));
    case 'contains':
      return values.some((v) => String(v).toLowerCase().includes(String(value).toLowerCase()));
    case 'gt':
      return values.some((v) => (compare(v, value) ?? NaN) > 0);
    case 'gte':
      return values.some((v) => (compare(v, value) ?? NaN) >= 0);
    case 'lt':
      return values.some((v) => (compare(v, value) ?? NaN) < 0);
    case 'lte':
      return values.some((v) => (compare(v, value) ?? NaN) <= 0);
  }
}

/** Whether a contact is in the segment: not blocklisted, consented when the filter asks, and every condition holds. */
export function matchesSegment(contact: SegmentContact, filter: SegmentFilter): boolean {
  if (contact.blocked) return false;
  if (filter.consent && contact.consent[filter.consent] !== true) return false;
  return filter.conditions.every((c) => holds(contact, c));
}
