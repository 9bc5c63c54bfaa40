/** The cabinet's only way to the server: the public HTTP API under /v1, with the session cookie. */

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: { field: string; issue: string }[];

  constructor(status: number, code: string, message: string, details: { field: string; issue: string }[] = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

let csrfToken: string | null = null;

/** The session's CSRF token, sent with every request that changes something. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export async function api<T>(method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  if (res.status === 204) return undefined as T;
  const json = (await res.json().catch(() => null)) as { error?: { code: string; message: string; details?: { field: string; issue: string }[] } } | null;
  if (!res.ok) throw new ApiError(res.status, json?.error?.code ?? 'network_error', json?.error?.message ?? res.statusText, json?.error?.details ?? []);
  return json as T;
}

/** A query string from the set fields. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '') as [string, string | number][];
  return entries.length === 0 ? '' : `?${new URLSearchParams(entries.map(([k, v]) => [k, String(v)])).toString()}`;
}

export type Role = 'administrator' | 'staff' | 'owner' | 'manager' | 'viewer';

export interface Session {
  object: 'session';
  kind: 'cookie' | 'api_key';
  id: string | null;
  role: Role;
  /** `time_zone`, `language`: the user's own choice, null when they made none */
  user: { id: string; email: string; time_zone: string | null; language: 'ru' | 'en' | null } | null;
  account: { id: string; name: string; time_zone: string };
  csrf_token: string | null;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export const MESSAGE_STATUSES = ['accepted', 'queued', 'sent', 'delivered', 'read', 'undelivered', 'failed', 'expired', 'rejected', 'cancelled'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export interface Reason {
  code: string;
  description: string;
  permanent: boolean;
  provider_code: string | null;
  /** on a message: what the provider or the gateway said, in words */
  detail?: string | null;
}

export interface Message {
  id: string;
  to: string;
  from: string | null;
  text: string;
  status: MessageStatus;
  reason: Reason | null;
  encoding: 'gsm7' | 'ucs2';
  characters: number;
  parts_count: number;
  connector: string | null;
  operator?: string | null;
  region?: string | null;
  traffic_type?: string;
  attempts?: number;
  /** a priced message's price, e.g. "2.50" */
  price?: string;
  group: string | null;
  project: string | null;
  created_at: string;
  sent_at: string | null;
  delivered_at?: string | null;
  parts?: { index: number; text: string; status: string; provider_message_id: string | null; reason: string | null; provider_code: string | null; sent_at: string | null; done_at: string | null }[];
}

/** A webhook of a message's events (GET /v1/messages/{id}/webhooks). */
export interface MessageWebhook {
  id: string;
  webhook_id: string | null;
  url: string;
  event_type: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  created_at: string;
  delivered_at: string | null;
}

export interface StatusEvent {
  id: string;
  type: string;
  created_at: string;
  data: { object: 'status_change'; message_id: string; status: MessageStatus; reason: Reason | null };
}

export interface Segments {
  encoding: 'gsm7' | 'ucs2';
  characters: number;
  units: number;
  units_per_part: number;
  parts_count: number;
  max_parts: number;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  role: 'account' | 'admin';
  /** the project the key is bound to; null: any */
  project_id: string | null;
  created_at: string;
  revoked_at: string | null;
  key?: string;
}

export interface Webhook {
  id: string;
  url: string;
  description: string | null;
  event_types: string[];
  enabled: boolean;
  failing_since: string | null;
  created_at: string;
  secret?: string;
}

export interface WebhookAttempt {
  id: string;
  event_id: string;
  event_type: string;
  status: 'succeeded' | 'failed';
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  attempted_at: string;
}

export interface ConnectorState {
  id: string;
  type: string;
  status: 'up' | 'degraded' | 'connecting' | 'down' | 'stopped';
  detail: string | null;
  enabled: boolean;
  /** api: made through the API, editable; config: the sandbox or the config file's */
  source: 'config' | 'api';
  links_up: number;
  links_total: number;
  /** when `status` last changed */
  since?: string;
  /** a cluster's api node: each live worker's part of the connector (absent on an embedded gateway) */
  nodes?: ConnectorNodeState[];
}

/** One worker node's part of a connector (GET /v1/connectors, `nodes`). */
export interface ConnectorNodeState {
  node: string;
  status: ConnectorState['status'];
  /** why it is not up there: its last error */
  detail: string | null;
  since: string;
  links_up: number;
  links_total: number;
  in_flight: number;
  circuit: 'closed' | 'open' | 'half_open';
}

export const MAILING_STATUSES = ['draft', 'scheduled', 'running', 'paused', 'finished', 'cancelled'] as const;
export type MailingStatus = (typeof MAILING_STATUSES)[number];

/** A mailing (GET /v1/mailings/{id}); only the fields the cabinet shows. */
export interface Mailing {
  id: string;
  number: number;
  name: string;
  project_id: string;
  list_id: string | null;
  segment_id: string | null;
  channels: string[];
  status: MailingStatus;
  paused_reason: 'error_threshold' | 'insufficient_balance' | null;
  start_at: string | null;
  schedule_cron: string | null;
  next_run_at: string | null;
  run_number: number;
  throttle_per_minute: number | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  cancelling: boolean;
}

/** A mailing's run statistics: GET /v1/mailings/{id}/stats, and the `data` of a `mailing.progress` event. */
export interface MailingStats {
  object: 'mailing_stats';
  mailing_id: string;
  status: MailingStatus;
  paused_reason: Mailing['paused_reason'];
  run_number: number;
  /** the run's audience; null before the first run and for a segment until its run ends */
  audience: number | null;
  remaining: number | null;
  recipients: { accepted: number; skipped: number };
  /** every message of the mailing, all runs */
  messages: Record<string, number>;
  errors: number;
  /** the current (or last) run's messages */
  run_messages: Record<string, number>;
  run_errors: number;
}

export interface AuditEntry {
  id: string;
  actor: { type: string; label: string };
  action: string;
  target_id: string | null;
  outcome: 'succeeded' | 'failed';
  ip: string | null;
  created_at: string;
}

export const WEBHOOK_EVENT_TYPES = [
  'message.queued',
  'message.sent',
  'message.delivered',
  'message.read',
  'message.undelivered',
  'message.failed',
  'message.expired',
  'message.rejected',
  'message.cancelled',
  'inbound_message.received',
  'batch.completed',
];

/** What a role may change; the server refuses the rest anyway, the cabinet only does not offer it. */
export const can = {
  send: (r: Role) => r !== 'viewer',
  manageKeys: (r: Role) => r === 'owner' || r === 'administrator',
  manageWebhooks: (r: Role) => r !== 'viewer',
  readAudit: (r: Role) => r === 'owner' || r === 'administrator' || r === 'staff',
  seeConnectors: (r: Role) => r === 'administrator' || r === 'staff',
};

export interface MessageStats {
  total: number;
  by_status: Record<string, number>;
  by_channel: Record<string, number>;
  by_operator: Record<string, number>;
}

export interface MinuteStats {
  minute: string;
  accepted: number;
  sent: number;
  delivered: number;
  submit_latency_ms: number | null;
  delivery_latency_ms: number | null;
}

export interface ExportJob {
  id: string;
  format: 'csv' | 'xlsx';
  filters: Record<string, string>;
  status: 'queued' | 'running' | 'ready' | 'failed';
  rows: number;
  bytes: number | null;
  error: string | null;
  download_url: string | null;
  created_at: string;
  completed_at: string | null;
}

export interface Account {
  id: string;
  name: string;
  default_region: string;
  default_ttl_seconds: number;
  max_parts: number;
  time_zone: string;
  quiet_hours: { start: string; end: string } | null;
  require_registered_senders: boolean;
  fallback_sender: string | null;
}

export interface Route {
  id: string;
  source: 'config' | 'api';
  enabled: boolean;
  connectors: string[];
  connector?: string;
  failover?: string[];
  split?: { connector: string; weight: number }[];
  channel: string;
  prefixes: string[];
  accounts: string[];
  projects: string[];
  operators: string[];
  traffic_types: string[];
  templated?: boolean;
}

export interface RouteTest {
  to: string;
  operator: string | null;
  route: string | null;
  connector: string | null;
  explanation: string;
  candidates: { id: string; in_rotation: boolean; status: string | null; enabled: boolean; circuit: string | null }[];
}

export interface SenderName {
  id: string;
  name: string;
  operators: { operator: string; status: 'pending' | 'approved' | 'rejected'; reason: string | null; updated_at: string }[];
  created_at: string;
}

export interface SmppCredential {
  id: string;
  system_id: string;
  allowed_ips: string[];
  max_binds: number;
  max_submits_per_second: number;
  receipt_hold_seconds: number;
  created_at: string;
}
