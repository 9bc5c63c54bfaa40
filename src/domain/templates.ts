import { Liquid, type Template } from 'liquidjs';

/**
 * Message templates: LiquidJS text (`{{first_name}}`, filters, defaults; no
 * code, no file access) with gender variants. Pure: no I/O.
 */

export type Gender = 'male' | 'female';

/** A template's texts: the neutral one is used when the recipient's gender is unknown or its variant is missing. */
export interface TemplateVariants {
  text: string;
  text_male?: string | null | undefined;
  text_female?: string | null | undefined;
}

const GENDERS: Record<string, Gender> = { male: 'male', m: 'male', м: 'male', муж: 'male', мужской: 'male', female: 'female', f: 'female', ж: 'female', жен: 'female', женский: 'female' };

/** `male`/`female` from what clients write (`m`, `ж`, `Female`…); null for empty; undefined when it is neither. */
export function parseGender(input: string | null | undefined): Gender | null | undefined {
  if (input === null || input === undefined || input.trim() === '') return null;
  return GENDERS[input.trim().toLowerCase()];
}

/** The text for a recipient of this gender: its variant when the template has one, otherwise the neutral text. */
export function chooseVariant(variants: TemplateVariants, gender: Gender | null): { variant: Gender | 'neutral'; text: string } {
  if (gender === 'male' && variants.text_male) return { variant: 'male', text: variants.text_male };
  if (gender === 'female' && variants.text_female) return { variant: 'female', text: variants.text_female };
  return { variant: 'neutral', text: variants.text };
}

// strictVariables: a missing field is an error to report, never a silently blank greeting
// (lenientIf still lets `{% if x %}` and `| default` handle an optional one).
// The limits keep a hostile template (a huge loop) from holding the event loop.
const engine = new Liquid({ strictVariables: true, lenientIf: true, strictFilters: true, ownPropertyOnly: true, parseLimit: 100_000, renderLimit: 200, memoryLimit: 10_000_000 });

const parsed = new Map<string, Template[]>();
const PARSED_MAX = 2000;

function parse(source: string): Template[] {
  let templates = parsed.get(source);
  if (templates) return templates;
  templates = engine.parse(source);
  if (parsed.size >= PARSED_MAX) parsed.clear();
  parsed.set(source, templates);
  return templates;
}

export type Checked = { ok: true; variables: string[] } | { ok: false; issue: string };

/** Whether the text is a valid template, and the top-level variables it uses. */
export function checkTemplate(source: string): Checked {
  try {
    const templates = parse(source);
    const variables = engine.globalVariableSegmentsSync(templates).map((segments) => String(segments[0]));
    return { ok: true, variables: [...new Set(variables)].sort() };
  } catch (err) {
    return { ok: false, issue: firstLine(err) };
  }
}

export type Rendered = { ok: true; text: string } | { ok: false; issue: string };

/** Renders a template against a context; a syntax error or a variable the context lacks is an issue, not an exception. */
export function renderTemplate(source: string, context: Record<string, unknown>): Rendered {
  try {
    return { ok: true, text: engine.renderSync(parse(source), context) as string };
  } catch (err) {
    return { ok: false, issue: firstLine(err) };
  }
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]!.replace(/, file:.*$/, '');
}

/** What a template sees of a contact. Custom attributes also appear at the top level unless a standard field has the name. */
export interface ContactFields {
  first_name: string | null;
  last_name: string | null;
  middle_name: string | null;
  gender: Gender | null;
  phones: readonly string[];
  emails: readonly string[];
  time_zone: string | null;
  guid: string | null;
  attributes: Readonly<Record<string, unknown>>;
}

/** The render context for a contact and the call's own parameters (`params`, which also win at the top level). */
export function contactContext(contact: ContactFields, params: Readonly<Record<string, unknown>> = {}): Record<string, unknown> {
  const standard = {
    guid: contact.guid,
    first_name: contact.first_name,
    last_name: contact.last_name,
    middle_name: contact.middle_name,
    gender: contact.gender,
    phone: contact.phones[0] ?? null,
    email: contact.emails[0] ?? null,
    phones: contact.phones,
    emails: contact.emails,
    time_zone: contact.time_zone,
    attributes: contact.attributes,
    params,
  };
  return { ...contact.attributes, ...standard, ...params };
}

/** Picks the variant for the contact's gender and renders it. */
export function renderForContact(variants: TemplateVariants, contact: ContactFields, params: Readonly<Record<string, unknown>> = {}): Rendered & { variant: Gender | 'neutral' } {
  const chosen = chooseVariant(variants, contact.gender);
  return { ...renderTemplate(chosen.text, contactContext(contact, params)), variant: chosen.variant };
}
