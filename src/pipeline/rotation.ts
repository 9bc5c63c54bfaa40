import type { ConnectorState } from '../connectors/types.ts';

/**
 * Which connectors are in rotation: switched on, and not failing. Each
 * connector has a circuit breaker: after `failureThreshold` sends in a row
 * fail with a connector-side error (link down, no answer, system error) its
 * circuit opens and it takes no traffic for `openMs`, so the route's next
 * connector takes over; then one message goes through as a probe (half open),
 * which closes the circuit when it is sent or opens it again for twice as long
 * (up to `maxOpenMs`) when it fails. Throttling and refusals of one message do
 * not count: they say nothing about the link.
 */
export interface RotationOptions {
  /** consecutive failures that open the circuit, default 5 */
  failureThreshold?: number;
  /** how long the circuit stays open the first time, default 30 s */
  openMs?: number;
  /** the longest it stays open after repeated failed probes, default 5 min */
  maxOpenMs?: number;
}

export type CircuitStatus = 'closed' | 'open' | 'half_open';

/** A connector's circuit, for GET /v1/connectors and monitoring. */
export interface CircuitState {
  status: CircuitStatus;
  /** the failure that opened it */
  reason: string | null;
  /** epoch ms of the last change */
  since: number;
  /** when an open circuit lets a probe through */
  until: number | null;
  consecutiveFailures: number;
}

/** How a connector's link is doing (its own state): 'up' and 'degraded' take traffic. */
export type LinkStatus = ConnectorState['status'];

export type Pick = { connectorId: string } | { blocked: string };

class Breaker {
  state: CircuitState;
  #openMs = 0;
  #probing = false;
  readonly #options: Required<RotationOptions>;

  constructor(options: Required<RotationOptions>, now: number) {
    this.#options = options;
    this.state = { status: 'closed', reason: null, since: now, until: null, consecutiveFailures: 0 };
  }

  /** whether a send may go now (an open circuit whose time is up becomes half open) */
  canTake(now: number): boolean {
    if (this.state.status === 'open' && now >= this.state.until!) this.#set('half_open', this.state.reason, now, null);
    if (this.state.status === 'half_open') return !this.#probing;
    return this.state.status === 'closed';
  }

  take(): void {
    if (this.state.status === 'half_open') this.#probing = true;
  }

  success(now: number): void {
    this.#probing = false;
    this.state.consecutiveFailures = 0;
    if (this.state.status !== 'closed') {
      this.#openMs = 0;
      this.#set('closed', null, now, null);
    }
  }

  failure(reason: string, now: number): void {
    this.state.consecutiveFailures++;
    const probeFailed = this.state.status === 'half_open' && this.#probing;
    this.#probing = false;
    if (probeFailed || (this.state.status === 'closed' && this.state.consecutiveFailures >= this.#options.failureThreshold)) {
      this.#openMs = this.#openMs === 0 ? this.#options.openMs : Math.min(this.#openMs * 2, this.#options.maxOpenMs);
      this.#set('open', reason, now, now + this.#openMs);
    }
  }

  #set(status: CircuitStatus, reason: string | null, now: number, until: number | null): void {
    this.state = { status, reason, since: now, until, consecutiveFailures: this.state.consecutiveFailures };
  }
}

export class Rotation {
  readonly #options: Required<RotationOptions>;
  readonly #breakers = new Map<string, Breaker>();
  #disabled = new Set<string>();

  constructor(options: RotationOptions = {}) {
    this.#options = { failureThreshold: options.failureThreshold ?? 5, openMs: options.openMs ?? 30_000, maxOpenMs: options.maxOpenMs ?? 300_000 };
  }

  /** Connectors switched off (PATCH /v1/connectors/{id}); they take no traffic until switched on. */
  setDisabled(ids: Iterable<string>): void {
    this.#disabled = new Set(ids);
  }

  isEnabled(id: string): boolean {
    return !this.#disabled.has(id);
  }

  circuit(id: string, now = Date.now()): CircuitState {
    const breaker = this.#breaker(id, now);
    breaker.canTake(now);
    return { ...breaker.state };
  }

  /**
   * The connector to send through (see firstInRotation). Taking a half-open
   * connector makes this message its probe.
   */
  pick(candidates: readonly string[], link: (id: string) => LinkStatus | undefined, now = Date.now()): Pick {
    const pick = firstInRotation(candidates, (id) => {
      const status = link(id);
      if (status === undefined) return undefined;
      const breaker = this.#breaker(id, now);
      return { status, enabled: !this.#disabled.has(id), open: !breaker.canTake(now), circuit: breaker.state };
    });
    if ('connectorId' in pick) this.#breaker(pick.connectorId, now).take();
    return pick;
  }

  success(id: string, now = Date.now()): void {
    this.#breaker(id, now).success(now);
  }

  failure(id: string, reason: string, now = Date.now()): void {
    this.#breaker(id, now).failure(reason, now);
  }

  #breaker(id: string, now: number): Breaker {
    let breaker = this.#breakers.get(id);
    if (!breaker) {
      breaker = new Breaker(this.#options, now);
      this.#breakers.set(id, breaker);
    }
    return breaker;
  }
}

/** What firstInRotation needs to know of a connector; undefined when it is not loaded. */
export interface RotationView {
  status: LinkStatus;
  enabled: boolean;
  /** the circuit lets nothing through now (open, or half open with its probe out) */
  open: boolean;
  circuit: CircuitState;
}

/**
 * The first candidate that is loaded, switched on, up and whose circuit lets
 * traffic through; failing that, the first one that is connecting or down but
 * not open (it may bind any moment, and sends there wait or fail as
 * retryable). When none can take the message, why not. The sender and the
 * route dry run both decide with this.
 */
export function firstInRotation(candidates: readonly string[], view: (id: string) => RotationView | undefined): Pick {
  let fallback: string | undefined;
  const why: string[] = [];
  for (const id of candidates) {
    const v = view(id);
    if (v === undefined) why.push(`${id} is not loaded`);
    else if (!v.enabled) why.push(`${id} is switched off`);
    else if (v.open) why.push(v.circuit.status === 'open' ? `${id}'s circuit is open until ${new Date(v.circuit.until!).toISOString()} (${v.circuit.reason})` : `${id} is being probed`);
    else if (v.status === 'up' || v.status === 'degraded') return { connectorId: id };
    else {
      why.push(`${id} is ${v.status}`);
      fallback ??= id;
    }
  }
  if (fallback !== undefined) return { connectorId: fallback };
  return { blocked: why.length > 0 ? why.join('; ') : 'the route names no connector' };
}
