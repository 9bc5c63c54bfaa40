import type { ConnectorDefinition } from './definitions.ts';
import { httpDefinitionProblems } from './http/presets.ts';
import { missingSecrets, resolveSecretsEnv } from './shared/definition.ts';
import { voiceDefinitionProblems } from './voice/freeswitch.ts';

/** The secrets each provider connector cannot work without. */
const REQUIRED_SECRETS: Partial<Record<ConnectorDefinition['type'], readonly string[]>> = {
  telegram_bot: ['bot_token'],
  telegram_gateway: ['token'],
  whatsapp: ['access_token', 'app_secret', 'verify_token'],
};

/** What is wrong with a definition beyond its schema (secrets missing, an unknown preset); [] when it can start. */
export function connectorProblems(d: ConnectorDefinition): { field: string; issue: string }[] {
  if (d.type === 'http') return httpDefinitionProblems(d);
  if (d.type === 'voice') return voiceDefinitionProblems(d);
  if (d.type === 'email' && d.imap) return missingSecrets(d, ['imap_username', 'imap_password']);
  const required = REQUIRED_SECRETS[d.type];
  return required && 'secrets' in d ? missingSecrets(d, required) : required ? required.map((n) => ({ field: `secrets.${n}`, issue: 'required' })) : [];
}

/** A definition of the config file with `secrets_env` read, and its problems added to `problems`. */
export function resolveFileConnector(d: ConnectorDefinition, env: Record<string, string | undefined>, where: string, problems: string[]): ConnectorDefinition {
  if (!('secrets_env' in d || 'secrets' in d || REQUIRED_SECRETS[d.type] || d.type === 'http' || d.type === 'voice' || (d.type === 'email' && d.imap))) return d;
  const resolved = resolveSecretsEnv(d as ConnectorDefinition & { secrets?: Record<string, string | undefined> }, env, where, problems) as ConnectorDefinition;
  for (const p of connectorProblems(resolved)) problems.push(`${where}.${p.field}: ${p.issue}`);
  return resolved;
}
