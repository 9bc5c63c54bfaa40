import { readdirSync, readFileSync } from 'node:fs';
import type { Channel } from '../channels.ts';
import type { CallbackSpec, CodeMeaning, HttpDefinition, HttpPreset, PollSpec, RequestSpec, ResponseSpec } from './spec.ts';

/**
 * Ready manifests for known aggregators, one JSON file each in presets/:
 * data, not code, so adding an aggregator is writing a file (or the same
 * sections in a connector's definition).
 */
const dir = new URL('./presets/', import.meta.url);
export const PRESETS: ReadonlyMap<string, HttpPreset> = new Map(
  readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => [f.slice(0, -'.json'.length).replaceAll('-', '_'), JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as HttpPreset]),
);

/** A definition with its preset applied: everything the connector needs, secrets opened. */
export interface ResolvedHttp {
  name: string;
  baseUrl: string;
  channels: Channel[];
  fields: HttpPreset['fields'];
  send: RequestSpec;
  response: ResponseSpec;
  sendErrors: Record<string, CodeMeaning>;
  defaultError: CodeMeaning;
  /** undefined when statuses come by polling */
  callback: CallbackSpec | undefined;
  /** undefined when statuses come by callback */
  poll: PollSpec | undefined;
  statusErrors: Record<string, CodeMeaning>;
  secrets: Record<string, string>;
  settings: Record<string, string>;
  /** what the provider is given to post reports to ('' without a public_url) */
  callbackUrl: string;
}

/** What is wrong with a definition beyond its schema: an unknown preset, no way to send, secrets the preset needs. */
export function httpDefinitionProblems(d: HttpDefinition): { field: string; issue: string }[] {
  const problems: { field: string; issue: string }[] = [];
  const preset = d.preset === undefined ? undefined : PRESETS.get(d.preset);
  if (d.preset !== undefined && !preset) problems.push({ field: 'preset', issue: `unknown preset; one of ${[...PRESETS.keys()].join(', ')}` });
  if (!preset && d.preset === undefined) {
    if (!d.send) problems.push({ field: 'send', issue: 'required without a preset' });
    if (!d.response) problems.push({ field: 'response', issue: 'required without a preset' });
    if (!d.base_url) problems.push({ field: 'base_url', issue: 'required without a preset' });
  }
  for (const f of preset?.fields ?? []) {
    if (d.secrets?.[f.name] === undefined && d.secrets_env?.[f.name] === undefined && d.settings?.[f.name] === undefined) problems.push({ field: `secrets.${f.name}`, issue: `required by the ${d.preset} preset (${f.label})` });
  }
  const poll = d.poll ?? preset?.poll;
  if (d.receipts === 'poll' && !poll) problems.push({ field: 'receipts', issue: 'poll needs a poll section (the preset has none)' });
  if (d.receipts === 'callback' && !(d.callback ?? preset?.callback)) problems.push({ field: 'receipts', issue: 'callback needs a callback section (the preset has none)' });
  if (d.receipts !== 'poll' && (d.callback ?? preset?.callback) && d.secrets?.callback_secret === undefined && d.secrets_env?.callback_secret === undefined) {
    problems.push({ field: 'secrets.callback_secret', issue: 'required: status reports are accepted only with it' });
  }
  return problems;
}

/**
 * The preset's plain (not secret) fields given among `secrets`, as the
 * cabinet's form sends every field of a preset: the templates read them as
 * `settings` (a default sender is `settings.sender`).
 */
function presetSettingsIn(preset: HttpPreset | undefined, secrets: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of preset?.fields ?? []) if (!f.secret && secrets[f.name] !== undefined) out[f.name] = secrets[f.name]!;
  return out;
}

export function resolveHttpDefinition(d: HttpDefinition): ResolvedHttp {
  const preset = d.preset === undefined ? undefined : PRESETS.get(d.preset);
  if (d.preset !== undefined && !preset) throw new Error(`unknown HTTP connector preset ${d.preset}`);
  const send = d.send ?? preset?.send;
  const response = d.response ?? preset?.response;
  const baseUrl = (d.base_url ?? preset?.base_url ?? '').replace(/\/$/, '');
  if (!send || !response || !baseUrl) throw new Error(`connector ${d.id}: give a preset, or send, response and base_url`);
  const secrets = d.secrets ?? {};
  const poll = d.poll ?? preset?.poll;
  const mode = d.receipts ?? ((d.callback ?? preset?.callback) ? 'callback' : poll ? 'poll' : 'callback');
  const callback = mode === 'callback' ? (d.callback ?? preset?.callback) : undefined;
  let callbackUrl = '';
  if (d.public_url && mode === 'callback') {
    callbackUrl = `${d.public_url.replace(/\/$/, '')}/v1/callbacks/${encodeURIComponent(d.id)}`;
    if (callback?.auth.type === 'token' && secrets.callback_secret) callbackUrl += `?${encodeURIComponent(callback.auth.query)}=${encodeURIComponent(secrets.callback_secret)}`;
  }
  return {
    name: d.name ?? preset?.name ?? d.id,
    baseUrl,
    channels: d.channels ?? preset?.channels ?? ['sms'],
    fields: preset?.fields ?? [],
    send,
    response,
    sendErrors: { ...(preset?.send_errors ?? {}), ...(d.send_errors ?? {}) },
    defaultError: d.default_error ?? preset?.default_error ?? { reason: 'operator_rejected', permanent: true },
    callback,
    poll: mode === 'poll' ? poll : undefined,
    statusErrors: { ...(preset?.status_errors ?? {}), ...(d.status_errors ?? {}) },
    secrets,
    settings: { ...presetSettingsIn(preset, secrets), ...(d.settings ?? {}) },
    callbackUrl,
  };
}
