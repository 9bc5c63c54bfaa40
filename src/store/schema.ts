import type { Generated } from 'kysely';

/**
 * Table types for Kysely. Times are epoch milliseconds (`bigint` columns) in
 * both dialects, so comparisons and sorting are the same everywhere.
 */
export interface AccountsTable {
  id: string;
  name: string;
  default_region: string;
  default_ttl_seconds: number;
  max_parts: number;
  created_at: number;
  /** IANA zone for quiet hours when the recipient's region is not known, default Europe/Moscow */
  time_zone: string;
  /** "HH:MM" local time; both null: no quiet hours */
  quiet_hours_start: string | null;
  quiet_hours_end: string | null;
  /** 1: a sender name must be in the registry and approved for the recipient's operator */
  require_registered_senders: number;
  /** used instead of a sender that is not approved for the recipient's operator */
  fallback_sender: string | null;
  /** JSON array of cascade steps: the channel order of verifications that give none (migration 016); null: SMS alone */
  default_cascade?: string | null;
  /** service/transactional SMS matching no approved template: keep | advertising | reject (migration 025) */
  unmatched_templates?: string;
}

export interface UsersTable {
  id: string;
  email: string;
  /** scrypt: `scrypt$N$r$p$salt$hash` (base64url) */
  password_hash: string;
  /** platform: `administrator`, `staff`; in an account: `owner`, `manager`, `viewer` */
  role: string;
  account_id: string | null;
  created_at: number;
  /** failed sign-ins since the last success; reaching the limit locks the user */
  failed_sign_ins: Generated<number>;
  locked_until: number | null;
  disabled_at: number | null;
  password_changed_at: number | null;
  /** IANA zone the cabinet shows this user's dates in; null: the account's (migration 033) */
  time_zone: string | null;
  /** `ru` or `en`; null: the browser's (migration 033) */
  language: string | null;
}

/** Cabinet sessions, found by the SHA-256 of the cookie's token (migration 013). */
export interface SessionsTable {
  id: string;
  token_hash: string;
  user_id: string;
  /** the account the session acts in (a platform user's is chosen at sign-in) */
  account_id: string;
  ip: string | null;
  user_agent: string | null;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  revoked_at: number | null;
}

/** Administrative changes and sign-ins (migration 013); account_id null for platform-wide ones. */
export interface AuditLogTable {
  id: string;
  account_id: string | null;
  /** `user` or `api_key` or `anonymous` (failed sign-ins) */
  actor_type: string;
  actor_id: string | null;
  /** email or key prefix, kept so the entry reads the same after the actor is gone */
  actor_label: string;
  /** e.g. `api_key.create`, `POST /v1/webhooks` */
  action: string;
  target_id: string | null;
  /** `succeeded` or `failed` */
  outcome: string;
  /** JSON object, never secrets */
  details: string | null;
  ip: string | null;
  created_at: number;
}

export interface ApiKeysTable {
  id: string;
  account_id: string;
  name: string;
  /** the first characters of the key, shown in lists so a user can tell keys apart */
  prefix: string;
  /** SHA-256 (hex) of the whole key; keys are 190-bit random, so a fast hash is enough */
  key_hash: string;
  created_at: number;
  revoked_at: number | null;
  /** `admin` may also manage connectors and routes; `account` reaches its account only */
  role: Generated<'admin' | 'account'>;
  /** the project the key is bound to (migration 030): its messages take the project's code and may name no other; null: any */
  project_id: Generated<string | null>;
}

/** A background export of the delivery report (cabinet); its file is `<dataDir>/exports/<id>.<format>`. */
export interface ExportsTable {
  id: string;
  account_id: string;
  format: string;
  /** JSON of the report filters */
  filters: string;
  /** queued, running, ready, failed */
  status: string;
  rows: number;
  bytes: number | null;
  error: string | null;
  /** the user or key that asked for it */
  created_by: string | null;
  created_at: number;
  completed_at: number | null;
  /** the process writing it (a random token per process) while queued or running */
  owner: string | null;
  /** the owner renews it while the job is queued or running; once lapsed, any process fails the job */
  lease_until: number | null;
  /** a ready file is removed after this (its chunks deleted, status expired) */
  expires_at: number | null;
}

/** A background export's file, in order: `seq` from 0. */
export interface ExportChunksTable {
  export_id: string;
  seq: number;
  data: Uint8Array;
}

/** Routes switched off or on through the API, by the id they are listed with (`config-<n>` or `rte_…`). */
export interface RouteSwitchesTable {
  route_id: string;
  enabled: number;
  updated_at: number;
}

/** Platform modules (channels, integrations) switched off or on through the API, by name (store/modules.ts). */
export interface ModuleSwitchesTable {
  name: string;
  enabled: number;
  updated_at: number;
}

export interface MessagesTable {
  id: string;
  account_id: string;
  batch_id: string | null;
  channel: string;
  recipient: string;
  sender: string | null;
  body: string;
  encoding: string;
  characters: number;
  parts_count: number;
  traffic_type: string;
  group_tag: string | null;
  project: string | null;
  reference: string | null;
  status: string;
  reason_code: string | null;
  provider_code: string | null;
  reason_detail: string | null;
  connector_id: string | null;
  attempts: number;
  ttl_seconds: number;
  send_at: number | null;
  expires_at: number;
  /** when the dispatcher should next look at it (send_at, retry back-off) */
  due_at: number;
  /** set while a sender holds the message (claimed, being sent); null otherwise */
  lease_until: number | null;
  created_at: number;
  queued_at: number | null;
  sent_at: number | null;
  delivered_at: number | null;
  completed_at: number | null;
  updated_at: number;
  /** connectors that refused it for a reason another one may not have, comma-separated (failover) */
  failed_connectors?: string | null;
  /** the recipient's operator code at accept time (`mts`, `inn_…`); null when the registry does not cover the number */
  operator: string | null;
  /** the region of the recipient's number range at accept time */
  region: string | null;
  /** where this message's status events are also posted (webhooks); null: nowhere */
  callback_url: string | null;
  /** JSON of what a non-SMS message carries besides its text (subject, html, template: connectors/channels.ts); absent or null for SMS */
  content?: string | null;
  /** the price of one part at accept (minor units); absent or null when the message costs nothing (no reserve) */
  price_minor?: number | null;
  /** the approved template the text matched (template traffic); absent or null otherwise */
  template_id?: string | null;
  /** the mailing that sent it (018); absent or null otherwise */
  mailing_id?: string | null;
  /** a cascade step's message: its parent (migration 016); null otherwise */
  parent_id?: string | null;
  /** 0 on a cascade's parent, 1… on its steps' messages; null on other messages */
  cascade_step?: number | null;
}

export interface MessagePartsTable {
  message_id: string;
  part_index: number;
  account_id: string;
  connector_id: string;
  provider_message_id: string;
  status: string;
  reason_code: string | null;
  provider_code: string | null;
  sent_at: number;
  done_at: number | null;
  /** the concatenation reference of a long SMS the provider took in part and retries for the rest (039); null otherwise */
  concat_ref?: number | null;
}

export interface MessageEventsTable {
  id: string;
  account_id: string;
  message_id: string;
  status: string;
  reason_code: string | null;
  provider_code: string | null;
  created_at: number;
}

export interface BatchesTable {
  id: string;
  account_id: string;
  total: number;
  accepted: number;
  rejected: number;
  created_at: number;
}

export interface IdempotencyKeysTable {
  account_id: string;
  idem_key: string;
  request_hash: string;
  /** null while the first request is still being processed */
  response_status: number | null;
  response_body: string | null;
  created_at: number;
}

/** A receipt that matched no sent part after the grace period: kept for the operator to see. */
export interface UnmatchedReceiptsTable {
  id: string;
  connector_id: string;
  provider_message_id: string;
  status: string;
  provider_code: string | null;
  raw: string | null;
  received_at: number;
}

/** A customer's SMPP login. */
export interface SmppCredentialsTable {
  id: string;
  account_id: string;
  /** unique across the gateway: the bind names only the system_id */
  system_id: string;
  /** scrypt, as for user passwords */
  password_hash: string;
  /** JSON array of CIDR ranges; empty: any address */
  allowed_ips: string;
  max_binds: number;
  max_submits_per_second: number;
  /** how long receipts wait for a receiving bind before they are dropped */
  receipt_hold_seconds: number;
  created_at: number;
  revoked_at: number | null;
}

/** A message that came in over SMPP: who submitted it and whether they want a receipt. */
export interface SmppSubmitsTable {
  message_id: string;
  account_id: string;
  credential_id: string;
  /** submit_sm registered_delivery & 3: 0 none, 1 final outcome, 2 failure only */
  registered_delivery: number;
  /** the addresses as the customer wrote them, echoed in the receipt */
  source_addr: string;
  destination_addr: string;
}

/** The last event whose receipt a credential has been sent (or that was skipped). */
export interface SmppReceiptCursorsTable {
  credential_id: string;
  last_event_id: string;
  updated_at: number;
}

/**
 * A receipt sent above a login's stored position: `waiting` (sent, not
 * acknowledged, `refusals` times refused or timed out: sent again from
 * `due_at`, dropped once `receipt_at` is older
 * than receipt_hold_seconds) or `acked` (acknowledged; removed once the
 * position passes it).
 */
export interface SmppReceiptMarksTable {
  credential_id: string;
  event_id: string;
  state: 'waiting' | 'acked';
  refusals: number;
  due_at: number;
  receipt_at: number;
}

/** A number (E.164 digits without "+", or a short code) an account receives messages on. */
export interface NumbersTable {
  number: string;
  account_id: string;
  created_at: number;
}

/** A message a subscriber sent to one of our numbers (MO). */
export interface InboundMessagesTable {
  id: string;
  /** null: the number belongs to no account */
  account_id: string | null;
  connector_id: string;
  /** E.164 when it parses as a number, otherwise as the operator wrote it */
  sender: string;
  recipient: string;
  body: string;
  parts_expected: number;
  parts_received: number;
  /** 1: every part arrived; 0: reassembly timed out, `body` is what came */
  complete: number;
  received_at: number;
}

/** A connector made through the API: its definition as JSON, the password sealed. */
export interface ConnectorsTable {
  id: string;
  type: string;
  definition: string;
  created_at: number;
}

/** A connector switched on or off through the API (any connector, from the file or the API). */
export interface ConnectorSwitchesTable {
  connector_id: string;
  enabled: number;
  updated_at: number;
}

/** A sender name an account registered (the `from` of its messages). */
export interface SenderNamesTable {
  id: string;
  account_id: string;
  name: string;
  created_at: number;
}

/** A sender name's registration with one operator (`*`: every operator not listed). */
export interface SenderNameStatusesTable {
  sender_name_id: string;
  account_id: string;
  operator: string;
  /** pending | approved | rejected */
  status: string;
  reason: string | null;
  updated_at: number;
}

/** A route made through the API (after the config file's routes). */
export interface RoutesTable {
  id: string;
  connector_id: string;
  definition: string;
  created_at: number;
}

/** One row: the current registry version and the ported-numbers revision, the marker other processes poll. */
export interface MnoStateTable {
  id: number;
  /** null until a registry is imported */
  registry_version: number | null;
  /** goes up with every change of `ported_numbers` */
  ported_revision: number;
  updated_at: number;
}

/** One imported registry file. */
export interface MnoVersionsTable {
  version: number;
  /** the file name it was imported from */
  source: string;
  ranges: number;
  operators: number;
  imported_at: number;
}

/** A numbering-plan range of one registry version, in full E.164 digits. */
export interface MnoRangesTable {
  version: number;
  range_start: number;
  /** inclusive */
  range_end: number;
  /** operator code: `mts`, `megafon`, `beeline`, `t2` or `inn_<INN>` */
  operator: string;
  inn: string;
  /** as the registry writes it */
  operator_name: string;
  region: string;
}

/** A number ported to another operator: overrides the registry. */
export interface PortedNumbersTable {
  /** E.164 digits without "+" */
  number: string;
  operator: string;
  inn: string;
  operator_name: string | null;
  region: string | null;
  updated_at: number;
}

/** A webhook subscription of an account. */
export interface WebhooksTable {
  id: string;
  account_id: string;
  url: string;
  description: string | null;
  /** JSON array of event types (`message.delivered`, `batch.completed`, …) */
  event_types: string;
  /** `whsec_…`, sealed with SecretBox */
  secret_sealed: string;
  /** 1: receives events; 0: disabled by the account or after failing for the whole retry window */
  enabled: number;
  /** why it was disabled by the gateway; null when enabled or disabled by the account */
  disabled_reason: string | null;
  disabled_at: number | null;
  /** since when every attempt has failed; null while it works */
  failing_since: number | null;
  created_at: number;
  updated_at: number;
}

/** One event for one endpoint (the outbox): written with the event, updated when sent. */
export interface WebhookDeliveriesTable {
  id: string;
  account_id: string;
  /** the subscription; null for a message's `callback_url` */
  webhook_id: string | null;
  callback_url: string | null;
  /** the webhook id, or `callback:<url>`: deliveries in order per (endpoint, order_key) */
  endpoint: string;
  /** what order is kept for: the message id (or the inbound message's, the batch's) */
  order_key: string;
  event_id: string;
  event_type: string;
  /** the envelope as sent, JSON */
  payload: string;
  /** `pending` until a 2xx; `delivered`; `failed` (a callback given up after the retry window) */
  status: string;
  attempts: number;
  next_attempt_at: number;
  /** set while a send is in flight; a crash leaves it, and the next start makes the row due */
  lease_until: number | null;
  created_at: number;
  delivered_at: number | null;
}

/** The delivery log: one row per attempt. */
export interface WebhookAttemptsTable {
  id: string;
  account_id: string;
  webhook_id: string | null;
  delivery_id: string;
  event_id: string;
  event_type: string;
  url: string;
  /** 1: a 2xx answer */
  succeeded: number;
  status_code: number | null;
  latency_ms: number;
  /** the first 1 KB of the answer */
  response_excerpt: string | null;
  error: string | null;
  /** when the next attempt is due, after a failure */
  next_attempt_at: number | null;
  attempted_at: number;
}

/** The secret that signs an account's `callback_url` deliveries. */
export interface WebhookAccountSecretsTable {
  account_id: string;
  secret_sealed: string;
  created_at: number;
}

/** A one-time code sent to a number (POST /v1/verifications); the code itself is never stored. */
export interface VerificationsTable {
  id: string;
  account_id: string;
  recipient: string;
  channel: string;
  /** the message that carries the code */
  message_id: string;
  code_salt: string;
  /** hex SHA-256 of salt and code */
  code_hash: string;
  /** pending, verified, expired, failed (too many attempts) */
  status: string;
  attempts: number;
  max_attempts: number;
  expires_at: number;
  created_at: number;
  verified_at: number | null;
  /** when the sweeper should handle its end (revoke its codes, mark it expired); null once done (migration 024) */
  sweep_at: number | null;
}

export interface ProjectsTable {
  id: string;
  account_id: string;
  /** the integer id of the compatibility API (seed 004), per account */
  number: number;
  name: string;
  code: string;
  created_at: number;
  updated_at: number;
}

/** A staged contact import (migration 026): received → checking → applying → completed, or failed with its report. */
export interface ContactImportsTable {
  id: string;
  account_id: string;
  project_id: string;
  /** csv | xlsx */
  format: string;
  /** received | checking | applying | completed | failed */
  status: string;
  /** JSON array of the contact columns the file has */
  columns: string;
  /** data rows read (the header and skipped rows not counted) */
  rows: number;
  bad_rows: number;
  /** rows with no value in any cell, neither imported nor bad (migration 041) */
  skipped_rows: number;
  /** JSON array of { field: "row N", issue }, the first 100 */
  problems: string;
  /** the largest row number staged */
  last_row: number;
  /** rows up to this number are in contacts (the SQLite apply's resume point) */
  applied_row: number;
  created: number;
  updated: number;
  error: string | null;
  created_by: string | null;
  /** the process that holds the job (a random token per process) while received, checking or applying */
  owner: string | null;
  /** renewed by the owner; once lapsed, an applying job is taken over, an unfinished upload failed */
  lease_until: number | null;
  created_at: number;
  /** when the whole file was in */
  received_at: number | null;
  completed_at: number | null;
}

/** A checked row of an import, as it will be written; deleted when the job ends. */
export interface ContactImportRowsTable {
  import_id: string;
  account_id: string;
  /** the count of rows read, without gaps (the header is row 1); the apply resumes by it */
  row_no: number;
  /** the row's number in the file: a CSV file's line where it starts, an XLSX sheet's row (migration 041) */
  file_row: number;
  /** the id a new contact gets */
  contact_id: string;
  guid: string | null;
  first_name: string | null;
  last_name: string | null;
  middle_name: string | null;
  gender: string | null;
  phones: string;
  emails: string;
  messenger_ids: string;
  time_zone: string | null;
  attributes: string;
  consent: string;
  blocked: number;
}

export interface ContactsTable {
  id: string;
  account_id: string;
  project_id: string;
  /** the client's own id, unique per project */
  guid: string | null;
  first_name: string | null;
  last_name: string | null;
  middle_name: string | null;
  /** `male` | `female`; null: unknown (templates use their neutral text) */
  gender: string | null;
  /** JSON array of E.164 numbers */
  phones: string;
  /** JSON array of lower-cased addresses */
  emails: string;
  /** JSON object: messenger → id */
  messenger_ids: string;
  time_zone: string | null;
  /** JSON object of the client's own fields */
  attributes: string;
  /** JSON object: channel → true (agreed) | false (refused) */
  consent: string;
  /** 1: never send to this contact */
  blocked: number;
  created_at: number;
  updated_at: number;
}

export interface ContactListsTable {
  id: string;
  account_id: string;
  project_id: string;
  name: string;
  created_at: number;
}

export interface ContactListMembersTable {
  list_id: string;
  contact_id: string;
  account_id: string;
  added_at: number;
}

export interface TemplatesTable {
  id: string;
  account_id: string;
  number: number;
  project_id: string;
  channel: string;
  name: string;
  /** the neutral (alternative) text, LiquidJS */
  text: string;
  text_male: string | null;
  text_female: string | null;
  created_at: number;
  updated_at: number;
}

/** A template's registration with one operator: draft → submitted → approved | rejected (with the operator's reason). */
export interface TemplateRegistrationsTable {
  id: string;
  account_id: string;
  template_id: string;
  operator: string;
  /** draft | submitted | approved | rejected */
  status: string;
  reason: string | null;
  /** the sender name it is registered for; null: any sender */
  sender: string | null;
  /** the texts submitted to the operator, JSON (what an approval covers) */
  text: string | null;
  created_at: number;
  updated_at: number;
}

/** Every status a registration took, oldest first. */
export interface TemplateRegistrationEventsTable {
  id: string;
  account_id: string;
  template_id: string;
  operator: string;
  status: string;
  reason: string | null;
  created_at: number;
}

export interface MailingsTable {
  id: string;
  account_id: string;
  number: number;
  project_id: string;
  template_id: string;
  /** the audience: a contact list, or null for every contact of the project */
  list_id: string | null;
  name: string;
  /** JSON array of channels, in cascade order */
  channels: string;
  /** draft | scheduled | running | paused | finished | cancelled */
  status: string;
  start_at: number | null;
  throttle_per_minute: number | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  /** the audience as a saved segment (018); list_id and segment_id are never both set */
  segment_id?: string | null;
  /** recurring: a cron expression (5 or 6 fields) in `time_zone`; null: once at start_at */
  schedule_cron?: string | null;
  /** IANA zone of the schedule (cron, local time); null: the account's */
  time_zone?: string | null;
  /** 1: start_at's wall-clock time is each recipient's local time */
  local_time?: number;
  traffic_type?: string;
  sender?: string | null;
  /** auto-pause when this share of finished messages failed (null: 20) */
  error_threshold_percent?: number | null;
  /** …once at least this many messages finished (null: 50) */
  error_min_sample?: number | null;
  /** the run under way or last run (0 before the first) */
  run_number?: number;
  /** when the runner starts the next run (scheduled mailings) */
  next_run_at?: number | null;
  /** why the runner paused it (`error_threshold`), null when a client did */
  paused_reason?: string | null;
  /** several channels, a cascade per recipient (027): how long each step but the last waits (null: 600 s) */
  step_timeout_seconds?: number | null;
  /** …and what ends the cascade at a step: `delivered` or `read` (null: `delivered`) */
  step_until?: string | null;
  /** cancelled, its unsent messages still being cancelled (031): `<run>:<contact id>` of the last recipient done ('' none yet); null: none left */
  cancel_cursor?: string | null;
  /** a template per channel (035): JSON `{"<channel>": "<template id>"}`; a channel without one (or null) uses template_id */
  templates?: string | null;
  /** the mailing's own template parameters, JSON object (037); null: none */
  params?: string | null;
  /**
   * the current (or last) run's audience size (038): the list's or project's contacts when the run started,
   * the recipients the run went through once it reached the end of its audience; null before a first run,
   * and for a segment until its run's end (its filter is applied contact by contact: no count up front)
   */
  audience_size?: number | null;
}

export interface SegmentsTable {
  id: string;
  account_id: string;
  project_id: string;
  name: string;
  /** JSON SegmentFilter (domain/segments.ts) */
  filter: string;
  created_at: number;
  updated_at: number;
}

export interface MailingRecipientsTable {
  mailing_id: string;
  run_number: number;
  contact_id: string;
  account_id: string;
  message_id: string | null;
  /** accepted | skipped */
  status: string;
  /** why skipped */
  reason: string | null;
  created_at: number;
}

export interface BalancesTable {
  account_id: string;
  currency: string;
  /** minor units (kopecks) */
  amount_minor: number;
  credit_limit_minor: number;
  updated_at: number;
}

export interface LedgerEntriesTable {
  id: string;
  account_id: string;
  /** top_up | adjustment | reserve | charge | refund */
  kind: string;
  /** signed, minor units */
  amount_minor: number;
  balance_after_minor: number;
  message_id: string | null;
  note: string | null;
  created_at: number;
}

export interface PricesTable {
  id: string;
  /** the account the price is for, or `*`: the platform's price list */
  account_id: string;
  channel: string;
  /** an operator code, or `*` */
  operator: string;
  /** a traffic type, `template` (a text that matched an approved template), or `*` */
  traffic_type: string;
  price_minor: number;
  currency: string;
  updated_at: number;
}

/** A request of the seed 001 API, found again by its `key`. */
export interface CompatRequestsTable {
  key: string;
  account_id: string;
  /** send | balance */
  kind: string;
  route: string | null;
  mode: string | null;
  /** JSON */
  result: string;
  created_at: number;
}

/** Addresses an administrator opened the compatibility APIs to without a key, each on behalf of one account (G3). */
export interface CompatIpAllowlistTable {
  id: string;
  account_id: string;
  range: string;
  created_at: number;
}

/** A cascade's state (migration 016): one row per parent message, same id. */
export interface CascadesTable {
  id: string;
  account_id: string;
  /** JSON: CascadeStepSpec[] (store/cascades.ts) */
  steps: string;
  /** 1-based: the step running now, or the last one run */
  step: number;
  /** the message of that step */
  child_id: string;
  /** running | done */
  status: string;
  /** when the running step's timeout passes; null when it has none (the last step) or the cascade is done */
  timer_at: number | null;
  /** the step whose message decided the parent's final status */
  decided_step: number | null;
  created_at: number;
  updated_at: number;
}

export interface DB {
  accounts: AccountsTable;
  users: UsersTable;
  sessions: SessionsTable;
  audit_log: AuditLogTable;
  api_keys: ApiKeysTable;
  messages: MessagesTable;
  message_parts: MessagePartsTable;
  message_events: MessageEventsTable;
  batches: BatchesTable;
  idempotency_keys: IdempotencyKeysTable;
  unmatched_receipts: UnmatchedReceiptsTable;
  smpp_credentials: SmppCredentialsTable;
  smpp_submits: SmppSubmitsTable;
  smpp_receipt_cursors: SmppReceiptCursorsTable;
  smpp_receipt_marks: SmppReceiptMarksTable;
  numbers: NumbersTable;
  inbound_messages: InboundMessagesTable;
  connectors: ConnectorsTable;
  routes: RoutesTable;
  connector_switches: ConnectorSwitchesTable;
  sender_names: SenderNamesTable;
  sender_name_statuses: SenderNameStatusesTable;
  mno_state: MnoStateTable;
  mno_versions: MnoVersionsTable;
  mno_ranges: MnoRangesTable;
  ported_numbers: PortedNumbersTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  webhook_account_secrets: WebhookAccountSecretsTable;
  verifications: VerificationsTable;
  projects: ProjectsTable;
  contacts: ContactsTable;
  contact_imports: ContactImportsTable;
  contact_import_rows: ContactImportRowsTable;
  contact_lists: ContactListsTable;
  contact_list_members: ContactListMembersTable;
  templates: TemplatesTable;
  template_registrations: TemplateRegistrationsTable;
  template_registration_events: TemplateRegistrationEventsTable;
  mailings: MailingsTable;
  segments: SegmentsTable;
  mailing_recipients: MailingRecipientsTable;
  balances: BalancesTable;
  ledger_entries: LedgerEntriesTable;
  prices: PricesTable;
  compat_requests: CompatRequestsTable;
  compat_ip_allowlist: CompatIpAllowlistTable;
  exports: ExportsTable;
  export_chunks: ExportChunksTable;
  route_switches: RouteSwitchesTable;
  module_switches: ModuleSwitchesTable;
  cascades: CascadesTable;
}
