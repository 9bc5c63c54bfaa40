import { Tokenizer, TokenKind } from 'liquidjs';

/**
 * Template matching as operators do it: a registered template is fixed text
 * with variable slots, and a message is template traffic when its text is
 * that fixed text with something in each slot. A template compiles to an
 * anchored pattern (`{{ … }}` and `{% … %}` become slots); the approved
 * templates of one account and operator compile to one alternation, so a
 * message costs one regular-expression run however many templates there are.
 * Pure: no I/O.
 */

/** One approved text of a template for one operator (each gender variant is a text of its own). */
export interface ApprovedText {
  templateId: string;
  operator: string;
  text: string;
}

/** A slot takes 1 to this many characters (operators bound variables, and it keeps the pattern linear). */
export const MAX_SLOT_LENGTH = 200;

/** Whitespace runs count as one space and the ends are trimmed, on both sides of a match. */
export function normaliseSpace(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const SLOT = `[\\s\\S]{1,${MAX_SLOT_LENGTH}}?`;

/** The pattern body (no anchors) of one template text: its fixed parts escaped, its tags as slots. Adjacent slots merge into one. */
export function patternSource(text: string): string {
  const parts: string[] = [];
  let lastWasSlot = false;
  for (const token of new Tokenizer(normaliseSpace(text)).readTopLevelTokens()) {
    if (token.kind === TokenKind.HTML) {
      const fixed = token.getText();
      if (fixed === '') continue;
      parts.push(escape(fixed).replace(/ /g, '\\s+'));
      lastWasSlot = false;
    } else if (!lastWasSlot) {
      parts.push(SLOT);
      lastWasSlot = true;
    }
  }
  return parts.join('');
}

/** A compiled set of alternatives: `^(?:a()|b()|…)$`, the empty group after each telling which one matched. */
interface Compiled {
  pattern: RegExp;
  templateIds: string[];
}

/** At most this many alternatives in one pattern (large accounts get several). */
const ALTERNATIVES_PER_PATTERN = 200;

/**
 * An account's approved template texts, compiled per operator. `match`
 * returns the id of the first template (in the order given) whose pattern
 * the whole text fits, or null.
 */
export class TemplateMatcher {
  readonly #byOperator = new Map<string, Compiled[]>();
  readonly size: number;

  constructor(texts: readonly ApprovedText[]) {
    this.size = texts.length;
    const grouped = new Map<string, ApprovedText[]>();
    for (const t of texts) {
      const list = grouped.get(t.operator) ?? [];
      list.push(t);
      grouped.set(t.operator, list);
    }
    for (const [operator, list] of grouped) {
      const compiled: Compiled[] = [];
      for (let i = 0; i < list.length; i += ALTERNATIVES_PER_PATTERN) {
        const chunk = list.slice(i, i + ALTERNATIVES_PER_PATTERN);
        const sources: string[] = [];
        const templateIds: string[] = [];
        for (const t of chunk) {
          let source: string;
          try {
            source = patternSource(t.text);
          } catch {
            continue; // a text the tokenizer refuses was never a valid template; it matches nothing
          }
          sources.push(`${source}()`);
          templateIds.push(t.templateId);
        }
        if (sources.length > 0) compiled.push({ pattern: new RegExp(`^(?:${sources.join('|')})$`, 'u'), templateIds });
      }
      this.#byOperator.set(operator, compiled);
    }
  }

  /** The template the text matches for this operator (templates are approved per operator), or null. */
  match(text: string, operator: string | null): string | null {
    if (operator === null || this.size === 0) return null;
    const compiled = this.#byOperator.get(operator);
    if (!compiled) return null;
    const normalised = normaliseSpace(text);
    for (const c of compiled) {
      const m = c.pattern.exec(normalised);
      if (!m) continue;
      // Groups: the marker group of each alternative is the only one the pattern has.
      for (let g = 1; g < m.length; g++) if (m[g] !== undefined) return c.templateIds[g - 1]!;
    }
    return null;
  }
}

export const EMPTY_MATCHER = new TemplateMatcher([]);
