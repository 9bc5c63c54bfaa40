import transliterate from '@sindresorhus/transliterate';
import { Tokenizer, TokenKind, type TagToken } from 'liquidjs';
import RULES_FILE from './operator-rules.json' with { type: 'json' };

/**
 * The template linter: checks a template's texts against an operator's rules
 * (kept as data in operator-rules.json) and, when they fail or the operator
 * rejected the template, suggests a rewrite made by fixed rules (drop
 * forbidden words, transliterate, move a leading variable, separate adjacent
 * variables, shorten), saying what it changed and what it could not fix.
 * Pure: no I/O.
 */

/** One operator's rules; see docs/templates.md for each. */
export interface OperatorRules {
  name: string;
  /** characters, with each variable counted as `assumed_variable_length` */
  max_length: number;
  assumed_variable_length: number;
  max_variables: number;
  /** non-space characters of fixed text at least */
  min_fixed_length: number;
  variable_at_start: boolean;
  adjacent_variables: boolean;
  /** `{% if %}`, `{% for %}`…: operators match fixed text, so these make texts they never saw */
  conditional_tags: boolean;
  latin_only: boolean;
  all_latin_allowed: boolean;
  required_sender: boolean;
  /** matched case-insensitively at the start of a word (`букмекер` also finds `букмекерская`) */
  forbidden_words: string[];
  /** words in an operator's rejection reason that say which rewrite applies */
  rejection_hints: Partial<Record<LintCode, string[]>>;
}

export const LINT_CODES = [
  'invalid_template',
  'too_long',
  'too_many_variables',
  'too_little_fixed_text',
  'variable_at_start',
  'adjacent_variables',
  'conditional_tag',
  'not_latin',
  'all_latin',
  'forbidden_word',
  'sender_required',
] as const;
export type LintCode = (typeof LINT_CODES)[number];

/** What each finding code means (docs/templates.md shows this table; a test keeps them in step). */
export const LINT_CODE_DESCRIPTIONS: Record<LintCode, string> = {
  invalid_template: 'The text is not valid LiquidJS.',
  too_long: 'The text is longer than the operator allows (each variable counted at its assumed length).',
  too_many_variables: 'More variables than the operator allows in one template.',
  too_little_fixed_text: 'Too little fixed text: the operator cannot tell the template from free text.',
  variable_at_start: 'The text starts with a variable; the operator wants it to start with fixed text.',
  adjacent_variables: 'Two variables with nothing but spaces between them.',
  conditional_tag: 'A `{% … %}` tag (if, for, case): operators register fixed text, not logic; use gender variants or separate templates.',
  not_latin: 'The operator takes Latin-only text and the text has other letters (Cyrillic).',
  all_latin: 'The operator refuses text written entirely in Latin letters.',
  forbidden_word: 'A word the operator does not allow.',
  sender_required: 'The operator registers templates per sender name and none was given.',
};

export interface Finding {
  code: LintCode;
  operator: string;
  /** `text`, `text_male`, `text_female`, or `sender` */
  field: string;
  message: string;
}

interface RulesFile {
  defaults: Omit<OperatorRules, 'name'>;
  operators: Record<string, Partial<OperatorRules> & { name: string }>;
}

const FILE = RULES_FILE as unknown as RulesFile;

/** The operators that have rules of their own. */
export const RULED_OPERATORS: readonly string[] = Object.keys(FILE.operators).filter((o) => o !== '*');

/** The rules for an operator: its own entry over the defaults, or `*` for one without an entry. */
export function rulesFor(operator: string, file: RulesFile = FILE): OperatorRules {
  const own = file.operators[operator] ?? file.operators['*'] ?? { name: operator };
  return { ...file.defaults, ...own, forbidden_words: own.forbidden_words ?? file.defaults.forbidden_words, rejection_hints: { ...file.defaults.rejection_hints, ...own.rejection_hints } };
}

/** A text as fixed parts and variable slots (the tags as they were written). */
type Piece = { kind: 'fixed'; text: string } | { kind: 'var'; raw: string; name: string } | { kind: 'tag'; raw: string; name: string };

function pieces(text: string): Piece[] {
  return new Tokenizer(text).readTopLevelTokens().map((t): Piece => {
    if (t.kind === TokenKind.HTML) return { kind: 'fixed', text: t.getText() };
    if (t.kind === TokenKind.Output) return { kind: 'var', raw: t.getText(), name: t.getText().replace(/^\{\{-?\s*|\s*-?\}\}$/g, '').split(/[\s|.[]/)[0] ?? '' };
    return { kind: 'tag', raw: t.getText(), name: (t as TagToken).name };
  });
}

const join = (list: readonly Piece[]) => list.map((p) => (p.kind === 'fixed' ? p.text : p.raw)).join('');
const fixedText = (list: readonly Piece[]) => list.flatMap((p) => (p.kind === 'fixed' ? [p.text] : [])).join('');
const NON_LATIN_LETTER = /(?!\p{Script=Latin})\p{L}/u;
const LETTER = /\p{L}/u;

function forbiddenPattern(word: string): RegExp {
  const escaped = word.trim().replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\s+/g, '\\s+');
  return new RegExp(`(?<![\\p{L}\\p{N}])${escaped}\\p{L}*`, 'giu');
}

/** Characters the text takes, each variable counted as `assumed_variable_length`. */
function estimatedLength(list: readonly Piece[], rules: OperatorRules): number {
  return list.reduce((n, p) => n + (p.kind === 'fixed' ? p.text.length : p.kind === 'var' ? rules.assumed_variable_length : 0), 0);
}

/** The findings for one text of a template. */
export function lintText(text: string, operator: string, rules: OperatorRules, field = 'text'): Finding[] {
  const found = (code: LintCode, message: string): Finding => ({ code, operator, field, message });
  let list: Piece[];
  try {
    list = pieces(text);
  } catch (err) {
    return [found('invalid_template', `not valid LiquidJS: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`)];
  }
  const out: Finding[] = [];
  const vars = list.filter((p) => p.kind === 'var');
  const fixed = fixedText(list);
  const length = estimatedLength(list, rules);
  if (length > rules.max_length) out.push(found('too_long', `about ${length} characters (each variable counted as ${rules.assumed_variable_length}); ${rules.name} allows ${rules.max_length}`));
  if (vars.length > rules.max_variables) out.push(found('too_many_variables', `${vars.length} variables; ${rules.name} allows ${rules.max_variables}`));
  const fixedChars = fixed.replace(/\s/g, '').length;
  if (fixedChars < rules.min_fixed_length) out.push(found('too_little_fixed_text', `${fixedChars} characters of fixed text; ${rules.name} wants at least ${rules.min_fixed_length}`));
  const first = list.find((p) => p.kind !== 'fixed' || p.text.trim() !== '');
  if (!rules.variable_at_start && first?.kind === 'var') out.push(found('variable_at_start', `the text starts with the variable ${first.name}; start with fixed text`));
  if (!rules.adjacent_variables) {
    // Only spaces between two slots: the operator cannot tell where one ends.
    let previous: (Piece & { kind: 'var' }) | undefined;
    for (const p of list) {
      if (p.kind === 'var') {
        if (previous) out.push(found('adjacent_variables', `the variables ${previous.name} and ${p.name} have no fixed text between them`));
        previous = p;
      } else if (p.kind === 'tag' || p.text.trim() !== '') previous = undefined;
    }
  }
  const tags = list.filter((p) => p.kind === 'tag');
  if (!rules.conditional_tags && tags.length > 0) out.push(found('conditional_tag', `${[...new Set(tags.map((t) => t.name))].map((n) => `{% ${n} %}`).join(', ')}: ${rules.name} registers fixed text only; use gender variants or separate templates`));
  if (rules.latin_only && NON_LATIN_LETTER.test(fixed)) out.push(found('not_latin', `${rules.name} takes Latin letters only; the text has others`));
  if (!rules.all_latin_allowed && LETTER.test(fixed) && !NON_LATIN_LETTER.test(fixed)) out.push(found('all_latin', `${rules.name} refuses text written entirely in Latin letters; write it in Cyrillic`));
  for (const word of rules.forbidden_words) {
    for (const m of fixed.matchAll(forbiddenPattern(word))) out.push(found('forbidden_word', `"${m[0]}" is not allowed by ${rules.name}`));
  }
  return out;
}

/** A template's texts (the gender variants optional). */
export interface TemplateTexts {
  text: string;
  text_male?: string | null | undefined;
  text_female?: string | null | undefined;
}

const FIELDS = ['text', 'text_male', 'text_female'] as const;

/** Every finding for the template's texts and the sender it is registered for. */
export function lintTemplate(texts: TemplateTexts, operator: string, options: { sender?: string | null | undefined; rules?: OperatorRules } = {}): Finding[] {
  const rules = options.rules ?? rulesFor(operator);
  const out: Finding[] = [];
  for (const field of FIELDS) {
    const text = texts[field];
    if (text) out.push(...lintText(text, operator, rules, field));
  }
  if (rules.required_sender && !options.sender) out.push({ code: 'sender_required', operator, field: 'sender', message: `${rules.name} registers templates per sender name: give the sender it will be sent from` });
  return out;
}

/** One change a rewrite made. */
export interface Change {
  code: LintCode;
  field: string;
  description: string;
}

export interface Suggestion {
  texts: { text: string; text_male: string | null; text_female: string | null };
  changes: Change[];
  /** what the rewrite could not fix (lint of the suggested texts) */
  remaining: Finding[];
}

/** The lint codes an operator's rejection reason points at, by the rules' hint words. */
export function hintedCodes(reason: string | null | undefined, rules: OperatorRules): Set<LintCode> {
  const codes = new Set<LintCode>();
  if (!reason) return codes;
  const lower = reason.toLowerCase();
  for (const [code, words] of Object.entries(rules.rejection_hints) as [LintCode, string[]][]) if (words.some((w) => lower.includes(w.toLowerCase()))) codes.add(code);
  // "на латинице" says all-Latin text was the problem, not that Latin is wanted.
  if (codes.has('all_latin')) codes.delete('not_latin');
  return codes;
}

/** Quoted words of a rejection reason («…», "…"): what the operator named as not allowed. */
function quotedWords(reason: string | null | undefined): string[] {
  if (!reason) return [];
  return [...reason.matchAll(/[«"“]([^»"”]{1,40})[»"”]/gu)].map((m) => m[1]!.trim()).filter((w) => w !== '');
}

function tidy(list: Piece[]): Piece[] {
  const text = join(list)
    .replace(/[ \t]{2,}/g, ' ')
    .replace(/ +([,.!?;:])/g, '$1')
    .replace(/([,;:])(?=[,.!?;:])/g, '')
    .trim();
  return pieces(text);
}

function rewriteText(text: string, field: string, rules: OperatorRules, hinted: Set<LintCode>, reasonWords: string[], changes: Change[]): string {
  let list: Piece[];
  try {
    list = pieces(text);
  } catch {
    return text; // not valid LiquidJS: nothing to rewrite safely
  }
  const findings = new Set(lintText(text, '', rules, field).map((f) => f.code));
  const wants = (code: LintCode) => findings.has(code) || hinted.has(code);
  const change = (code: LintCode, description: string) => changes.push({ code, field, description });

  const words = [...(wants('forbidden_word') ? rules.forbidden_words : []), ...(hinted.has('forbidden_word') ? reasonWords : [])];
  for (const word of words) {
    const pattern = forbiddenPattern(word);
    const dropped: string[] = [];
    list = list.map((p) => (p.kind === 'fixed' ? { ...p, text: p.text.replace(pattern, (m) => (dropped.push(m), '')) } : p));
    if (dropped.length > 0) change('forbidden_word', `dropped ${dropped.map((d) => `"${d}"`).join(', ')}`);
  }
  list = tidy(list);

  if ((rules.latin_only || hinted.has('not_latin')) && NON_LATIN_LETTER.test(fixedText(list))) {
    list = list.map((p) => (p.kind === 'fixed' ? { ...p, text: transliterate(p.text) } : p));
    change('not_latin', 'transliterated the fixed text to Latin letters (the variables are left as they are)');
  }

  const firstIndex = list.findIndex((p) => p.kind !== 'fixed' || p.text.trim() !== '');
  const first = list[firstIndex];
  if (!rules.variable_at_start && wants('variable_at_start') && first?.kind === 'var') {
    const rest = join(list.slice(firstIndex + 1)).replace(/^[\s,:;.!—-]+/u, '');
    const capitalised = rest.charAt(0).toUpperCase() + rest.slice(1);
    const end = /[.!?]$/.exec(capitalised) ? capitalised.length - 1 : capitalised.length;
    list = tidy(pieces(`${capitalised.slice(0, end)}, ${first.raw}${capitalised.slice(end)}`));
    change('variable_at_start', `moved ${first.raw} from the start to the end`);
  }

  if (!rules.adjacent_variables && wants('adjacent_variables')) {
    const out: Piece[] = [];
    for (const p of list) {
      const prev = out[out.length - 1];
      const prevVar = prev?.kind === 'var' ? prev : prev?.kind === 'fixed' && prev.text.trim() === '' && out[out.length - 2]?.kind === 'var' ? out[out.length - 2] : undefined;
      if (p.kind === 'var' && prevVar?.kind === 'var') {
        if (prev?.kind === 'fixed') out.pop();
        out.push({ kind: 'fixed', text: ', ' });
        change('adjacent_variables', `put ", " between ${prevVar.raw} and ${p.raw}`);
      }
      out.push(p);
    }
    list = out;
  }

  const limit = hinted.has('too_long') && !findings.has('too_long') ? Math.floor(estimatedLength(list, rules) * 0.8) : rules.max_length;
  if (estimatedLength(list, rules) > limit) {
    const compact = tidy(list.map((p) => (p.kind === 'fixed' ? { ...p, text: p.text.replace(/\s+/g, ' ') } : p)));
    list = compact;
    const removed: string[] = [];
    // Whole words (or slots) off the end until it fits; never inside a tag.
    while (estimatedLength(list, rules) > limit && list.length > 0) {
      const last = list[list.length - 1]!;
      if (last.kind !== 'fixed') {
        removed.unshift(last.raw);
        list = list.slice(0, -1);
        continue;
      }
      const m = /\s*\S+\s*$/u.exec(last.text);
      const cut = m ? last.text.slice(0, m.index) : '';
      removed.unshift((m?.[0] ?? last.text).trim());
      list = [...list.slice(0, -1), ...(cut === '' ? [] : [{ ...last, text: cut }])];
    }
    list = tidy(list.map((p, i, all) => (i === all.length - 1 && p.kind === 'fixed' ? { ...p, text: p.text.replace(/[\s,;:—-]+$/u, '') } : p)));
    change('too_long', `shortened to ${estimatedLength(list, rules)} characters (limit ${limit}) by removing the end: "${removed.join(' ')}"`);
  }
  return join(list);
}

/**
 * A rewrite of the template for the operator, or null when it passes and
 * the operator did not reject it. `reason` is the operator's rejection
 * reason: its hint words (rules data) pick rewrites the lint alone would not.
 */
export function suggestRewrite(texts: TemplateTexts, operator: string, options: { sender?: string | null | undefined; reason?: string | null | undefined; rules?: OperatorRules } = {}): Suggestion | null {
  const rules = options.rules ?? rulesFor(operator);
  const findings = lintTemplate(texts, operator, { sender: options.sender, rules });
  const hinted = hintedCodes(options.reason, rules);
  if (findings.length === 0 && hinted.size === 0) return null;
  const changes: Change[] = [];
  const reasonWords = quotedWords(options.reason);
  const out = { text: rewriteText(texts.text, 'text', rules, hinted, reasonWords, changes), text_male: texts.text_male ? rewriteText(texts.text_male, 'text_male', rules, hinted, reasonWords, changes) : null, text_female: texts.text_female ? rewriteText(texts.text_female, 'text_female', rules, hinted, reasonWords, changes) : null };
  return { texts: out, changes, remaining: lintTemplate(out, operator, { sender: options.sender, rules }) };
}
