import { routeConnectorIds, type RouteDefinition } from '../connectors/definitions.ts';

/** What routing looks at in a message. */
export interface RouteInput {
  accountId: string;
  channel: string;
  /** E.164, with or without "+" */
  recipient: string;
  project: string | null;
  trafficType: string;
  /** the recipient's operator code (docs/mno.md), null when unknown */
  operator: string | null;
  /** the text matched an approved template (docs/templates.md); absent: false */
  templated?: boolean | undefined;
}

/** A route with the id it is known by: `rte_…` (API) or `config-<n>` (config file). */
export interface NamedRoute {
  id: string;
  route: RouteDefinition;
  /** false: switched off through the API; it matches nothing (default true) */
  enabled?: boolean;
}

/** The route a message takes and the connectors to try, in order. */
export interface RouteChoice {
  routeId: string;
  /** failover order; for a split, a weighted draw without replacement (the first is the one drawn) */
  connectors: string[];
}

/** Why a route was or was not taken, for the dry run. */
export interface RouteVerdict {
  routeId: string;
  matches: boolean;
  /** the first criterion that did not match, or what made it the most specific */
  why: string;
}

interface CompiledRoute {
  id: string;
  index: number;
  enabled: boolean;
  connectors: string[];
  weights: number[] | null;
  channel: string;
  /** digits only; [''] when the route takes every number */
  prefixes: string[];
  accounts: Set<string> | null;
  projects: Set<string> | null;
  operators: Set<string> | null;
  trafficTypes: Set<string> | null;
  /** only templated messages (true), only others (false), or either (null) */
  templated: boolean | null;
}

/** The sandbox takes every SMS when no route is declared, so a fresh install works; other channels need a route. */
export const DEFAULT_ROUTE: RouteChoice = { routeId: 'default', connectors: ['sandbox'] };

/**
 * The routing table. A route matches a message when its channel and every
 * criterion it names match: one of its prefixes (of the E.164 number), its
 * accounts, projects, operators and traffic types. Among the matching routes
 * the most specific wins, criterion by criterion: one restricted to accounts
 * beats one that is not, then one restricted to projects, then to operators,
 * then the longest prefix, then one restricted to traffic types, then one
 * restricted to templated (or untemplated) messages; the route
 * declared first breaks a tie. A route switched off matches nothing (its
 * messages take the next matching route, or fail with no_route). With no
 * routes at all every SMS goes to the sandbox.
 */
export class RoutingTable {
  #routes: CompiledRoute[] = [];

  constructor(routes: readonly NamedRoute[] = []) {
    this.update(routes);
  }

  /** Replaces the table (routes changed through the API). */
  update(routes: readonly NamedRoute[]): void {
    this.#routes = routes.map(({ id, route: r, enabled }, index) => ({
      id,
      index,
      enabled: enabled ?? true,
      connectors: routeConnectorIds(r),
      weights: r.split ? r.split.map((s) => s.weight) : null,
      channel: r.channel ?? 'sms',
      prefixes: r.prefixes && r.prefixes.length > 0 ? r.prefixes.map((p) => p.replace(/^\+/, '')) : [''],
      accounts: setOf(r.accounts),
      projects: setOf(r.projects),
      operators: setOf(r.operators),
      trafficTypes: setOf(r.traffic_types),
      templated: r.templated ?? null,
    }));
  }

  /** The route for a message, or null when none matches (the message fails with no_route). */
  resolve(input: RouteInput, random: () => number = Math.random): RouteChoice | null {
    if (this.#routes.length === 0) return input.channel === 'sms' ? DEFAULT_ROUTE : null;
    const best = this.#best(input);
    if (!best) return null;
    const { route } = best;
    return { routeId: route.id, connectors: route.weights ? weightedOrder(route.connectors, route.weights, random) : route.connectors };
  }

  /** The dry run: every route with why it matches or not, and the one taken. */
  explain(input: RouteInput): { choice: RouteChoice | null; verdicts: RouteVerdict[] } {
    if (this.#routes.length === 0) return { choice: input.channel === 'sms' ? DEFAULT_ROUTE : null, verdicts: [] };
    const best = this.#best(input);
    const verdicts = this.#routes.map((route): RouteVerdict => {
      const miss = mismatch(route, input);
      if (miss) return { routeId: route.id, matches: false, why: miss };
      if (best && route === best.route) return { routeId: route.id, matches: true, why: 'taken: the most specific matching route' };
      return { routeId: route.id, matches: true, why: `matches, but ${best!.route.id} is more specific or declared earlier` };
    });
    return { choice: best ? { routeId: best.route.id, connectors: best.route.connectors } : null, verdicts };
  }

  #best(input: RouteInput): { route: CompiledRoute; prefix: number } | undefined {
    const number = input.recipient.replace(/^\+/, '');
    let best: { route: CompiledRoute; prefix: number } | undefined;
    for (const route of this.#routes) {
      if (mismatch(route, input, number)) continue;
      const prefix = longestPrefix(route, number);
      if (!best || better(route, prefix, best.route, best.prefix)) best = { route, prefix };
    }
    return best;
  }
}

function setOf(values: readonly string[] | undefined): Set<string> | null {
  return values && values.length > 0 ? new Set(values) : null;
}

function longestPrefix(route: CompiledRoute, number: string): number {
  let prefix = -1;
  for (const p of route.prefixes) if (p.length > prefix && number.startsWith(p)) prefix = p.length;
  return prefix;
}

/** The first criterion of the route the message does not meet, or null when it matches. */
function mismatch(route: CompiledRoute, input: RouteInput, number = input.recipient.replace(/^\+/, '')): string | null {
  if (!route.enabled) return 'switched off';
  if (route.channel !== input.channel) return `channel is ${route.channel}, not ${input.channel}`;
  if (route.accounts && !route.accounts.has(input.accountId)) return 'serves other accounts';
  if (route.projects && (input.project === null || !route.projects.has(input.project))) return input.project === null ? 'serves named projects; the message has none' : `serves other projects than ${input.project}`;
  if (route.operators && (input.operator === null || !route.operators.has(input.operator))) return input.operator === null ? "serves named operators; the number's operator is not known" : `serves other operators than ${input.operator}`;
  if (route.trafficTypes && !route.trafficTypes.has(input.trafficType)) return `serves other traffic types than ${input.trafficType}`;
  if (route.templated !== null && route.templated !== (input.templated ?? false)) return route.templated ? 'serves templated messages; the text matched no approved template' : 'serves messages without a template; the text matched an approved one';
  if (longestPrefix(route, number) < 0) return 'no prefix of the route matches the number';
  return null;
}

function better(a: CompiledRoute, aPrefix: number, b: CompiledRoute, bPrefix: number): boolean {
  for (const key of ['accounts', 'projects', 'operators'] as const) {
    if ((a[key] !== null) !== (b[key] !== null)) return a[key] !== null;
  }
  if (aPrefix !== bPrefix) return aPrefix > bPrefix;
  if ((a.trafficTypes !== null) !== (b.trafficTypes !== null)) return a.trafficTypes !== null;
  if ((a.templated !== null) !== (b.templated !== null)) return a.templated !== null;
  return a.index < b.index;
}

/** A weighted draw without replacement: each connector's chance to come first is its share of the weights. */
export function weightedOrder(ids: readonly string[], weights: readonly number[], random: () => number): string[] {
  const left = ids.map((id, i) => ({ id, weight: weights[i]! }));
  const out: string[] = [];
  while (left.length > 0) {
    let total = 0;
    for (const l of left) total += l.weight;
    let draw = random() * total;
    let i = 0;
    while (i < left.length - 1 && draw >= left[i]!.weight) draw -= left[i++]!.weight;
    out.push(left.splice(i, 1)[0]!.id);
  }
  return out;
}
