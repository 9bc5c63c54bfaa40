/**
 * Reading values out of a provider's reply or report: a dotted path into
 * parsed JSON (`result.0.messageId`), or the first group of a regular
 * expression over text (XML, plain replies). Values come back as strings, the
 * way codes are compared in the manifests; absent is undefined.
 */

export function atPath(value: unknown, path: string): unknown {
  let here = value;
  for (const key of path.split('.')) {
    if (here === null || typeof here !== 'object') return undefined;
    here = Array.isArray(here) ? here[Number(key)] : (here as Record<string, unknown>)[key];
  }
  return here;
}

export function asText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** A compiled reader: `json` paths or `text` patterns, chosen once per manifest. */
export type Reader = (reply: unknown, where: string) => string | undefined;

const patterns = new Map<string, RegExp>();

export function readerFor(format: 'json' | 'text'): Reader {
  if (format === 'json') return (reply, where) => asText(atPath(reply, where));
  return (reply, where) => {
    let re = patterns.get(where);
    if (!re) patterns.set(where, (re = new RegExp(where, 's')));
    const m = re.exec(String(reply));
    if (!m) return undefined;
    return m[1] ?? m[0];
  };
}
