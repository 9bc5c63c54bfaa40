import { Type } from 'typebox';

/**
 * Definition fields shared by the connectors that talk to a provider's HTTP
 * API: secrets (sealed in the store, never shown), `secrets_env` for the
 * config file, and the addresses a test or a proxy may change.
 */
export const ConnectorIdSchema = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$', description: 'lower-case letters, digits, "_" and "-", up to 63' });

export const secretsSchema = <const K extends string>(names: readonly K[]) =>
  Type.Object(Object.fromEntries(names.map((n) => [n, Type.Optional(Type.String({ minLength: 1, maxLength: 4096 }))])) as Record<K, ReturnType<typeof optionalSecret>>, { additionalProperties: false });
const optionalSecret = () => Type.Optional(Type.String({ minLength: 1, maxLength: 4096 }));

export const secretsEnvSchema = <const K extends string>(names: readonly K[]) =>
  Type.Object(Object.fromEntries(names.map((n) => [n, Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }))])) as Record<K, ReturnType<typeof optionalEnv>>, { additionalProperties: false });
const optionalEnv = () => Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }));

export const BaseUrl = Type.String({ pattern: '^https?://', maxLength: 2048 });

/** A definition with secrets, as the config file and the store see it. */
export interface WithSecrets {
  secrets?: Record<string, string | undefined> | undefined;
  secrets_env?: Record<string, string | undefined> | undefined;
}

/** Reads `secrets_env` (config file only) into `secrets`; unset variables are problems. */
export function resolveSecretsEnv<D extends WithSecrets>(d: D, env: Record<string, string | undefined>, where: string, problems: string[]): D {
  const { secrets_env: fromEnv, ...rest } = d;
  const secrets: Record<string, string> = {};
  for (const [k, v] of Object.entries(d.secrets ?? {})) if (v !== undefined) secrets[k] = v;
  for (const [name, variable] of Object.entries(fromEnv ?? {})) {
    if (variable === undefined) continue;
    const value = env[variable];
    if (value === undefined) problems.push(`${where}.secrets_env.${name}: the environment variable ${variable} is not set`);
    else secrets[name] = value;
  }
  return { ...rest, secrets } as D;
}

/** The secrets a connector type cannot work without that the definition lacks. */
export function missingSecrets(d: WithSecrets, required: readonly string[]): { field: string; issue: string }[] {
  return required.filter((n) => d.secrets?.[n] === undefined && d.secrets_env?.[n] === undefined).map((n) => ({ field: `secrets.${n}`, issue: 'required' }));
}
