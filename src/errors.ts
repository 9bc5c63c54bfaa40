/**
 * The API error catalogue: every error the HTTP API returns has a stable code,
 * an HTTP status and a description. `docs/errors.md` documents this table and a
 * test keeps the two in step.
 */
export const API_ERRORS = {
  malformed_json: { status: 400, description: 'The request body is not valid JSON.' },
  validation_failed: { status: 400, description: 'The request does not match the schema: a field is missing, of the wrong type, out of range or unknown. `details` names each field.' },
  unsupported_media_type: { status: 415, description: 'The body must be `application/json`.' },
  payload_too_large: { status: 413, description: 'The request body is larger than the endpoint accepts.' },
  unauthorized: { status: 401, description: 'No API key or session cookie was given, or the key is unknown or revoked, or the session has ended.' },
  forbidden: { status: 403, description: 'The caller may not do this: the endpoint needs an administrator key or platform role, or the user\'s role (owner, manager, viewer) does not allow it.' },
  invalid_credentials: { status: 401, description: 'Sign-in failed: no user with this email, or the password is wrong (the answer does not say which).' },
  sign_in_locked: { status: 429, description: 'Too many failed sign-ins: for this user (5 in a row lock it for 15 minutes, or until an administrator resets the password) or from this address (20 a minute); wait `Retry-After` seconds.' },
  csrf_token_invalid: { status: 403, description: 'A cabinet request that changes something lacks the session\'s CSRF token in `X-CSRF-Token` (`GET /v1/session` gives it).' },
  email_taken: { status: 409, description: 'A user with this email exists already.' },
  weak_password: { status: 422, description: 'The new password is shorter than 10 characters, or `current_password` is wrong.' },
  not_found: { status: 404, description: 'No such object in your account (objects of other accounts are reported the same way).' },
  route_not_found: { status: 404, description: 'No such endpoint.' },
  invalid_phone_number: { status: 422, description: 'A recipient number cannot be parsed or is not a valid number; `details` names the input.' },
  invalid_sender: { status: 422, description: 'The sender name (`from`) is not a valid alphanumeric (up to 11 characters) or numeric (up to 15 digits) sender.' },
  empty_text: { status: 422, description: 'The message text is empty.' },
  text_too_long: { status: 422, description: 'The text needs more SMS parts than the account allows; the message says how many it would need.' },
  invalid_recipient: { status: 422, description: '`to` is not a valid recipient for the message\'s channel: an e-mail address for `email`, a chat id, `@username` or E.164 number for `telegram`.' },
  channel_field_missing: { status: 422, description: 'A field the message\'s channel needs is missing (an e-mail\'s `subject`, or both its `text` and `html`); `details` names it.' },
  channel_field_not_allowed: { status: 422, description: 'A field is not taken by the message\'s channel (`subject` or `html` on anything but `email`, `template` on anything but `whatsapp` and `viber`).' },
  channel_disabled: { status: 422, description: 'The message\'s channel (or a cascade step\'s, or a verification\'s) is switched off on this platform (`GET /v1/modules`); `details` names the `channel` field. Send on another channel, or ask the platform administrator.' },
  module_disabled: { status: 409, description: 'The module serving this endpoint (verifications, mailings) is switched off on this platform (`GET /v1/modules`); reading what exists still works. Ask the platform administrator to switch it on.' },
  encoding_not_possible: { status: 422, description: 'The text cannot be written in the requested encoding (a character is not in the GSM 03.38 alphabet).' },
  invalid_send_at: { status: 422, description: '`send_at` is not a date-time within the allowed window.' },
  invalid_cursor: { status: 400, description: 'The pagination cursor is malformed.' },
  invalid_period: { status: 422, description: '`since` is after `until`.' },
  too_many_items: { status: 422, description: 'A bulk request holds more items than allowed (10,000).' },
  bulk_all_invalid: { status: 422, description: 'No item of a bulk request is valid; `details` lists each item and its problem. Nothing was written.' },
  idempotency_key_reused: { status: 422, description: 'The `Idempotency-Key` was used in the last 24 hours with a different request body.' },
  idempotency_key_invalid: { status: 400, description: 'The `Idempotency-Key` header is empty or longer than 255 characters.' },
  idempotency_key_in_use: { status: 409, description: 'A request with this `Idempotency-Key` is still being processed; retry after it finishes.' },
  invalid_ip_range: { status: 422, description: 'An entry of `allowed_ips` is not an IP address or CIDR range; `details` names it.' },
  smpp_system_id_taken: { status: 409, description: 'Another SMPP login already uses this `system_id`; choose another.' },
  unknown_account: { status: 422, description: 'The `account_id` names no account.' },
  number_taken: { status: 409, description: 'The number is assigned to an account already; release it first.' },
  connector_exists: { status: 409, description: 'A connector with this `id` exists (made through the API or declared in the config file).' },
  connector_from_config: { status: 409, description: 'The connector is declared in the config file; change it there.' },
  connector_in_use: { status: 409, description: 'A route uses the connector; remove the route first.' },
  unknown_operator: { status: 422, description: 'The operator is neither an operator code (`mts`, `megafon`, `beeline`, `t2`, `inn_<INN>`) nor an INN.' },
  import_too_large: { status: 413, description: 'An imported contacts file holds more than an import takes: 5,000,000 data rows or 1 GiB (the message says which). Refused as soon as it passes the limit; nothing was imported (the import is `failed`). Split the file.' },
  invalid_csv: { status: 422, description: 'An imported CSV file has bad rows; `details` names each line (`line 12`) and its problem. Nothing was imported.' },
  unknown_connector: { status: 422, description: 'The route, or a cascade step, names a connector that does not exist.' },
  cascade_invalid: { status: 422, description: 'A `cascade` breaks a rule: a step but the last without `timeout_seconds`, or `channel`, `subject`, `html` or `template` beside `cascade` instead of on its steps; `details` names the field.' },
  invalid_setting: { status: 422, description: 'An account setting is not valid (an unknown region or time zone, a `default_cascade` step but the last without `timeout_seconds`); `details` names each field.' },
  sender_name_exists: { status: 409, description: 'The account has registered this sender name already.' },
  sender_not_allowed: { status: 422, description: 'The account requires registered senders and `from` is not approved for the recipient\'s operator (and no approved fallback sender is set); the message says which operator and what status.' },
  invalid_route: { status: 422, description: 'A route must name exactly one of `connector`, `failover` or `split`, and a connector only once.' },
  invalid_webhook_url: { status: 422, description: 'A webhook `url` or a message\'s `callback_url` is not an absolute `http` or `https` URL, carries a user name or password, or is a private, loopback or link-local IP address while `webhooks.allow_private_addresses` is off.' },
  invalid_webhook_secret: { status: 422, description: 'A webhook `secret` given on creation is not `whsec_` followed by the base64 of 24–64 bytes.' },
  replay_nothing_found: { status: 404, description: 'A webhook replay found no delivery of that event (or in that period) for the subscription.' },
  message_not_cancellable: { status: 409, description: 'The message cannot be cancelled any more: a sender holds it, or it is sent or finished. The message says its status.' },
  too_many_streams: { status: 429, description: 'This API key holds as many open event streams as it may (`stream.max_per_key`, default 10); close one first.' },
  verification_limit_exceeded: { status: 429, description: 'Too many verifications for this number (by default 5 in 10 minutes) or this account (by default 1,000 in an hour; `verifications` in the configuration), against SMS pumping; the message says which and when to retry.' },
  verification_needs_template: { status: 422, description: 'A WhatsApp verification needs `template`: the name of an approved authentication template, which gets the code as its parameter.' },
  rate_limited: { status: 429, description: 'Too many requests for this API key in the current second; wait `Retry-After` seconds.' },
  service_unavailable: { status: 503, description: 'The gateway is starting up or shutting down, or its database is unreachable; retry later.' },
  export_not_ready: { status: 409, description: 'The export is still running or has failed, so it has no file to download yet; `GET /v1/exports/{id}` says its status.' },
  export_expired: { status: 410, description: 'The export\'s file was kept for its retention time (`DEPESHA_EXPORT_RETENTION_HOURS`) and has been deleted; create the export again.' },
  project_code_taken: { status: 409, description: 'The account has a project with this `code` already.' },
  unknown_project: { status: 422, description: 'The `project_id` names no project of the account; or a message\'s `project` is not the code of one of the account\'s projects (once an account has projects, a message names one of them or none).' },
  project_not_allowed: { status: 403, description: 'The API key is bound to a project (its `project_id`) and the message names another `project`; name the key\'s project or none (the key\'s is taken), or use a key of that project.' },
  unknown_list: { status: 422, description: 'The `list_id` names no contact list of the project.' },
  unknown_template: { status: 422, description: 'The `template_id` names no template of the account; for a mailing, `template_id` or an entry of its `templates` names no template of its project (`details` names the field).' },
  template_channel_mismatch: { status: 422, description: 'An entry of a mailing\'s `templates` is for a channel the mailing does not send on (not in its `channels`), or names a template made for another channel; `details` names each such entry (`templates.sms`).' },
  invalid_contact: { status: 422, description: 'A contact field breaks a rule (a phone number that is not valid, an e-mail address, a gender, a time zone); `details` names each field.' },
  contact_guid_taken: { status: 409, description: 'The project has a contact with this `guid` already.' },
  invalid_import: { status: 422, description: 'An imported contacts file (CSV or XLSX) has bad rows (a guid twice in the file too), or cannot be read; `details` names each row (`row 12`) and its problem, the first 100. Nothing was imported. (POST /v1/contacts/import; POST /v1/contacts/imports reports the same in the import object.)' },
  invalid_template: { status: 422, description: 'A template text is not valid LiquidJS; the message quotes the parser.' },
  template_render_failed: { status: 422, description: 'A template could not be rendered for the contact: it uses a variable the contact and the parameters lack (the message names it).' },
  ip_range_taken: { status: 409, description: 'The address range is opened for the compatibility APIs already; close it first.' },
  mailing_wrong_status: { status: 409, description: 'The mailing is not in a status the action starts from (a finished mailing cannot be paused); the message says its status.' },
  insufficient_balance: { status: 402, description: 'The account\'s balance plus its credit limit does not cover what the message costs (price × parts, from the price list); the message says what it costs and what is available. In a bulk request the items beyond the balance are listed in `errors` with this code and the rest are accepted. Top up the balance.' },
  template_not_matched: { status: 422, description: 'The service or transactional SMS text matches none of the account\'s templates approved for the recipient\'s operator and sender, and the account refuses such messages (`unmatched_templates: reject`, docs/templates.md). Register a template for it, or send it as advertising.' },
  template_lint_failed: { status: 422, description: 'The template breaks the operator\'s rules and was not submitted; `details` lists each finding (`code: message`, docs/templates.md). Fix it (`GET /v1/templates/{id}/lint` suggests a rewrite) or submit with `force`.' },
  unknown_registration: { status: 404, description: 'The template has no registration with that operator yet; submit it first.' },
  registration_wrong_status: { status: 409, description: 'The registration is not in a status the action starts from (an operator\'s decision needs `submitted`); the message says its status.' },
  unknown_segment: { status: 422, description: 'The `segment_id` names no segment of the project.' },
  invalid_segment_filter: { status: 422, description: 'A segment filter names a field that is not a contact field or `attributes.<name>`, or an operator lacks its value; `details` names the condition.' },
  segment_in_use: { status: 409, description: 'The segment is the audience of a mailing that is not finished or cancelled; cancel the mailing or give it another audience first.' },
  contact_list_in_use: { status: 409, description: 'The contact list is the audience of a mailing that is not finished or cancelled; cancel the mailing first (a finished or cancelled one does not hold it).' },
  invalid_schedule: { status: 422, description: 'A mailing schedule cannot be used: a cron expression that does not parse, a time zone that is not an IANA name, both `list_id` and `segment_id`, or both throttles; `details` names the field.' },
  internal_error: { status: 500, description: 'An unexpected error on our side. The `request_id` identifies it in our logs.' },
} as const satisfies Record<string, { status: number; description: string }>;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** One problem with one field of a request. `field` is a dotted path (`messages.3.to`). */
export interface ErrorDetail {
  field: string;
  issue: string;
}

/** An error that the HTTP layer renders as `{"error": {code, message, details, request_id}}`. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly status: number;
  readonly details: ErrorDetail[];
  readonly headers: Record<string, string>;

  constructor(code: ApiErrorCode, message: string, details: ErrorDetail[] = [], headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = API_ERRORS[code].status;
    this.details = details;
    this.headers = headers;
  }
}
