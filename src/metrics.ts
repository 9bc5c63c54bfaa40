import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one process, served at GET /metrics. */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({ name: 'depesha_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'] as const, registers: [this.registry] });
  readonly httpDuration = new Histogram({
    name: 'depesha_http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly messagesAccepted = new Counter({ name: 'depesha_messages_accepted_total', help: 'Messages accepted', registers: [this.registry] });
  readonly statusChanges = new Counter({ name: 'depesha_message_status_changes_total', help: 'Message status changes by new status', labelNames: ['status'] as const, registers: [this.registry] });
  readonly streamsOpen = new Gauge({ name: 'depesha_event_streams_open', help: 'Open GET /v1/events/stream connections', registers: [this.registry] });
  readonly streamsEnded = new Counter({ name: 'depesha_event_streams_ended_total', help: 'Event streams ended, by why (closed by the client, slow_consumer, shutting_down, session_ended, key_revoked)', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly dispatcherDepth = new Gauge({ name: 'depesha_dispatcher_queue_depth', help: 'Message ids waiting in the dispatcher', registers: [this.registry] });
  readonly connectorUp = new Gauge({
    name: 'depesha_connector_up',
    help: 'Whether a connector takes traffic: 1 up or degraded, 0 connecting, down or stopped',
    labelNames: ['connector', 'type'],
    registers: [this.registry],
  });
  readonly connectorLinksUp = new Gauge({ name: 'depesha_connector_links_up', help: 'Links (SMPP binds) of a connector that are up', labelNames: ['connector'], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'depesha_' });
  }
}
