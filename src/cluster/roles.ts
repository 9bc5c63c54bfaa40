/**
 * What a node does in a cluster. `api` serves the HTTP API (accepts and
 * stores, never sends), `smpp` the SMPP server for customers, `worker` claims
 * and sends (connectors, receipts), `scheduler` the timed work (due `send_at`,
 * retry back-offs, lapsed leases, validity expiry, webhook sending), which runs
 * on one scheduler node of the cluster at a time.
 */
export const ROLES = ['api', 'smpp', 'worker', 'scheduler'] as const;
export type Role = (typeof ROLES)[number];

/** Reads a comma-separated list of roles; a problem is pushed for each unknown or repeated one. */
export function parseRoles(raw: string, problems: string[]): Role[] {
  const out: Role[] = [];
  for (const item of raw.split(',').map((s) => s.trim())) {
    if (!(ROLES as readonly string[]).includes(item)) problems.push(`role "${item}" is not one of ${ROLES.join(', ')}`);
    else if (out.includes(item as Role)) problems.push(`role "${item}" is given twice`);
    else out.push(item as Role);
  }
  return out;
}

export function hasAllRoles(roles: readonly Role[]): boolean {
  return ROLES.every((r) => roles.includes(r));
}
