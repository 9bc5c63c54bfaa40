import type { RouteDefinition } from '../connectors/definitions.ts';
import type { Connector } from '../connectors/types.ts';
import type { MessageRow } from '../store/messages.ts';

/** Picks the connector for a message. */
export interface Router {
  pick(message: MessageRow): Connector | undefined;
}

interface CompiledRoute {
  index: number;
  connectorId: string;
  channel: string;
  /** digits only; [''] when the route takes every number */
  prefixes: string[];
  accounts: Set<string> | null;
}

/**
 * Routes by the declared table. A route matches a message when its channel,
 * one of its prefixes (of the E.164 number, digits only) and its account list
 * (when it has one) match. Among matching routes, one restricted to the
 * message's account beats an open one, then the longest prefix wins, then
 * the route declared first. With no routes at all, every SMS goes to the
 * sandbox, so a fresh install works without configuration.
 */
export class RoutingTable implements Router {
  #connectors: Map<string, Connector> = new Map();
  #routes: CompiledRoute[] = [];

  constructor(connectors: readonly Connector[], routes: readonly RouteDefinition[]) {
    this.update(connectors, routes);
  }

  /** Replaces the table (connectors or routes changed through the API). */
  update(connectors: readonly Connector[], routes: readonly RouteDefinition[]): void {
    this.#connectors = new Map(connectors.map((c) => [c.id, c]));
    this.#routes = routes.map((r, index) => ({
      index,
      connectorId: r.connector,
      channel: r.channel ?? 'sms',
      prefixes: r.prefixes && r.prefixes.length > 0 ? r.prefixes.map((p) => p.replace(/^\+/, '')) : [''],
      accounts: r.accounts && r.accounts.length > 0 ? new Set(r.accounts) : null,
    }));
  }

  pick(message: MessageRow): Connector | undefined {
    if (this.#routes.length === 0) return this.#connectors.get('sandbox');
    const number = message.recipient.replace(/^\+/, '');
    let best: { route: CompiledRoute; prefix: number } | undefined;
    for (const route of this.#routes) {
      if (route.channel !== message.channel) continue;
      if (route.accounts && !route.accounts.has(message.account_id)) continue;
      let prefix = -1;
      for (const p of route.prefixes) if (p.length > prefix && number.startsWith(p)) prefix = p.length;
      if (prefix < 0) continue;
      if (!best || better(route, prefix, best.route, best.prefix)) best = { route, prefix };
    }
    return best && this.#connectors.get(best.route.connectorId);
  }
}

function better(a: CompiledRoute, aPrefix: number, b: CompiledRoute, bPrefix: number): boolean {
  if ((a.accounts !== null) !== (b.accounts !== null)) return a.accounts !== null;
  if (aPrefix !== bPrefix) return aPrefix > bPrefix;
  return a.index < b.index;
}
