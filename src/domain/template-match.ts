import { Tokenizer, TokenKind } from 'liquidjs';

/**
 * Template matching as operators do it: a registered template is fixed text
 * with variable slots, and a message is template traffic when its text is
 * that fixed text, in order and whole (anchored at both ends), with one or
 * more characters in each slot. A template compiles once to its fixed parts
 * (`{{ … }}` and `{% … %}` are slots); matching finds each part leftmost
 * after the previous one (`indexOf`), which is exact for slots that take any
 * text and linear in the text per template, so no text can make it
 * backtrack. Pure: no I/O.
 */

/** One approved text of a template for one operator (each gender variant is a text of its own). */
export interface ApprovedText {
  templateId: string;
  operator: string;
  /** the sender name it is registered for; null: any */
  sender: string | null;
  text: string;
}

/** Whitespace runs count as one space and the ends are trimmed, on both sides of a match. */
export function normaliseSpace(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * The fixed parts of a template text around its slots: `n` slots give `n + 1`
 * parts (the first or last empty when the text starts or ends with a slot);
 * adjacent slots are one slot.
 */
export function fixedParts(text: string): string[] {
  const parts: string[] = [''];
  let lastWasSlot = false;
  for (const token of new Tokenizer(normaliseSpace(text)).readTopLevelTokens()) {
    if (token.kind === TokenKind.HTML) {
      parts[parts.length - 1] += token.getText();
      lastWasSlot = false;
    } else if (!lastWasSlot) {
      parts.push('');
      lastWasSlot = true;
    }
  }
  return parts;
}

/** Whether the text is the parts with one or more characters in each slot between them. */
export function fitsParts(text: string, parts: readonly string[]): boolean {
  const first = parts[0]!;
  if (parts.length === 1) return text === first;
  const last = parts[parts.length - 1]!;
  if (!text.startsWith(first) || !text.endsWith(last)) return false;
  const end = text.length - last.length;
  let pos = first.length;
  for (let i = 1; i < parts.length - 1; i++) {
    // Leftmost after a non-empty slot leaves the most room for the rest, so it is the only try needed.
    const at = text.indexOf(parts[i]!, pos + 1);
    if (at < 0 || at + parts[i]!.length > end) return false;
    pos = at + parts[i]!.length;
  }
  return end >= pos + 1;
}

interface Compiled {
  templateId: string;
  sender: string | null;
  parts: string[];
}

/**
 * An account's approved template texts, compiled per operator and indexed by
 * the first character of their fixed start. `match` returns the id of the
 * first template (in the order given) that the whole text fits, or null.
 */
export class TemplateMatcher {
  /** operator → first character of the fixed start ('' for a text that starts with a slot) → templates */
  readonly #byOperator = new Map<string, Map<string, Compiled[]>>();
  readonly size: number;

  constructor(texts: readonly ApprovedText[]) {
    this.size = texts.length;
    for (const t of texts) {
      let parts: string[];
      try {
        parts = fixedParts(t.text);
      } catch {
        continue; // a text the tokenizer refuses was never a valid template; it matches nothing
      }
      let index = this.#byOperator.get(t.operator);
      if (!index) this.#byOperator.set(t.operator, (index = new Map()));
      const key = parts[0]!.charAt(0);
      const list = index.get(key) ?? [];
      list.push({ templateId: t.templateId, sender: t.sender, parts });
      index.set(key, list);
    }
  }

  /** The template the text matches for this operator and sender (templates are approved per operator and sender), or null. */
  match(text: string, operator: string | null, sender: string | null = null): string | null {
    if (operator === null || this.size === 0) return null;
    const index = this.#byOperator.get(operator);
    if (!index) return null;
    const normalised = normaliseSpace(text);
    for (const key of [normalised.charAt(0), '']) {
      for (const c of index.get(key) ?? []) if ((c.sender === null || c.sender === sender) && fitsParts(normalised, c.parts)) return c.templateId;
    }
    return null;
  }
}

export const EMPTY_MATCHER = new TemplateMatcher([]);
