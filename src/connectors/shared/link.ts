import type { ConnectorContext, ConnectorState } from '../types.ts';

/**
 * The life of a connector without a connection of its own (an HTTP API, an
 * SMTP pool): running or stopped and since when, the pipeline's context while
 * running, and the requests in flight. Its state is one link, up while running.
 */
export class SingleLink {
  context: ConnectorContext | undefined;
  stopped = true;
  since = Date.now();
  inFlight = 0;

  start(context: ConnectorContext): void {
    this.context = context;
    this.stopped = false;
    this.since = Date.now();
  }

  stop(): void {
    this.stopped = true;
    this.since = Date.now();
  }

  state(id: string, type: string, detail: string | null = null): ConnectorState {
    return { id, type, status: this.stopped ? 'stopped' : 'up', detail, since: this.since, links: { up: this.stopped ? 0 : 1, total: 1 }, inFlight: this.inFlight };
  }
}
