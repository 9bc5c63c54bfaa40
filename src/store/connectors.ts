import type { FileRoute } from '../config.ts';
import type { Kysely } from 'kysely';
import { routeConnectorIds, type ConnectorDefinition, type RouteDefinition } from '../connectors/definitions.ts';
import { newId } from '../domain/ids.ts';
import type { DB } from './schema.ts';
import type { SecretBox } from './secrets.ts';

export class ConnectorExistsError extends Error {
  constructor(id: string) {
    super(`a connector with id ${id} exists`);
    this.name = 'ConnectorExistsError';
  }
}

/**
 * Connectors and routes made through the API. They belong to the gateway, not
 * to an account (administrators manage them), so queries take no account id.
 * Passwords and provider connectors' secrets are sealed on the way in and opened on the way out.
 */
export class ConnectorsRepository {
  readonly #db: Kysely<DB>;
  readonly #box: SecretBox;

  constructor(db: Kysely<DB>, box: SecretBox) {
    this.#db = db;
    this.#box = box;
  }

  async list(): Promise<ConnectorDefinition[]> {
    const rows = await this.#db.selectFrom('connectors').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map((r) => {
      const stored = JSON.parse(r.definition) as ConnectorDefinition & { password_sealed?: string; secrets_sealed?: Record<string, string> };
      const { password_sealed: sealed, secrets_sealed: sealedSecrets, ...definition } = stored;
      const secrets = sealedSecrets === undefined ? {} : { secrets: Object.fromEntries(Object.entries(sealedSecrets).map(([k, v]) => [k, this.#box.open(v)])) };
      return (sealed === undefined ? { ...definition, ...secrets } : { ...definition, ...secrets, password: this.#box.open(sealed) }) as ConnectorDefinition;
    });
  }

  /** The definition as stored: password and secrets sealed. */
  #sealed(definition: ConnectorDefinition): Record<string, unknown> {
    const stored: Record<string, unknown> = { ...definition };
    if (definition.type === 'smpp' && definition.password !== undefined) {
      delete stored.password;
      stored.password_sealed = this.#box.seal(definition.password);
    }
    if ('secrets' in definition && definition.secrets !== undefined) {
      delete stored.secrets;
      stored.secrets_sealed = Object.fromEntries(Object.entries(definition.secrets).flatMap(([k, v]) => (v === undefined ? [] : [[k, this.#box.seal(v)]])));
    }
    return stored;
  }

  async create(definition: ConnectorDefinition, now = Date.now()): Promise<void> {
    const stored = this.#sealed(definition);
    try {
      await this.#db.insertInto('connectors').values({ id: definition.id, type: definition.type, definition: JSON.stringify(stored), created_at: now }).execute();
    } catch (err) {
      if (await this.exists(definition.id)) throw new ConnectorExistsError(definition.id);
      throw err;
    }
  }

  async exists(id: string): Promise<boolean> {
    return (await this.#db.selectFrom('connectors').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('connectors').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async listRoutes(): Promise<{ id: string; route: RouteDefinition; createdAt: number }[]> {
    const rows = await this.#db.selectFrom('routes').selectAll().orderBy('id').execute();
    return rows.map((r) => ({ id: r.id, route: JSON.parse(r.definition) as RouteDefinition, createdAt: r.created_at }));
  }

  async createRoute(route: RouteDefinition, now = Date.now()): Promise<string> {
    const id = newId('rte', now);
    // connector_id keeps the first connector; routesUsing reads the definitions for the rest.
    await this.#db.insertInto('routes').values({ id, connector_id: routeConnectorIds(route)[0]!, definition: JSON.stringify(route), created_at: now }).execute();
    return id;
  }

  async deleteRoute(id: string): Promise<boolean> {
    await this.#db.deleteFrom('route_switches').where('route_id', '=', id).execute();
    const result = await this.#db.deleteFrom('routes').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async routesUsing(connectorId: string): Promise<number> {
    return (await this.listRoutes()).filter((r) => routeConnectorIds(r.route).includes(connectorId)).length;
  }

  /**
   * Every route in use with the id it is known by: the config file's first (`config-<id>` when it names
   * one, else `config-<n>` by position), then the API's; `enabled` false when switched off.
   */
  async namedRoutes(fileRoutes: readonly FileRoute[]): Promise<{ id: string; route: RouteDefinition; enabled: boolean }[]> {
    const made = await this.listRoutes();
    const off = new Set(await this.disabledRoutes());
    const fromFile = fileRoutes.map(({ id, ...route }, i) => ({ id: `config-${id ?? i + 1}`, route }));
    return [...fromFile, ...made.map((m) => ({ id: m.id, route: m.route }))].map((r) => ({ ...r, enabled: !off.has(r.id) }));
  }

  /** Routes switched off through the API, by the id they are listed with. */
  async disabledRoutes(): Promise<string[]> {
    const rows = await this.#db.selectFrom('route_switches').select('route_id').where('enabled', '=', 0).execute();
    return rows.map((r) => r.route_id);
  }

  async setRouteEnabled(routeId: string, enabled: boolean, now = Date.now()): Promise<void> {
    await this.#db
      .insertInto('route_switches')
      .values({ route_id: routeId, enabled: enabled ? 1 : 0, updated_at: now })
      .onConflict((oc) => oc.column('route_id').doUpdateSet({ enabled: enabled ? 1 : 0, updated_at: now }))
      .execute();
  }

  /** A connector made through the API as stored: its definition without secrets, and the names of the secrets it holds. */
  async getStored(id: string): Promise<{ definition: Record<string, unknown>; secretNames: string[] } | undefined> {
    const row = await this.#db.selectFrom('connectors').select('definition').where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    const { password_sealed: sealed, secrets_sealed: sealedSecrets, ...definition } = JSON.parse(row.definition) as Record<string, unknown> & { password_sealed?: string; secrets_sealed?: Record<string, string> };
    return { definition, secretNames: [...(sealed === undefined ? [] : ['password']), ...Object.keys(sealedSecrets ?? {}).map((k) => `secrets.${k}`)] };
  }

  /** Replaces a connector's definition (same id; the caller merged in the secrets it keeps). */
  async update(definition: ConnectorDefinition): Promise<boolean> {
    const result = await this.#db.updateTable('connectors').set({ definition: JSON.stringify(this.#sealed(definition)) }).where('id', '=', definition.id).executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Connectors switched off through the API. */
  async disabled(): Promise<string[]> {
    const rows = await this.#db.selectFrom('connector_switches').select('connector_id').where('enabled', '=', 0).execute();
    return rows.map((r) => r.connector_id);
  }

  async setEnabled(connectorId: string, enabled: boolean, now = Date.now()): Promise<void> {
    await this.#db
      .insertInto('connector_switches')
      .values({ connector_id: connectorId, enabled: enabled ? 1 : 0, updated_at: now })
      .onConflict((oc) => oc.column('connector_id').doUpdateSet({ enabled: enabled ? 1 : 0, updated_at: now }))
      .execute();
  }
}
