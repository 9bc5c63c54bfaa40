import type { Kysely } from 'kysely';
import { CHANNELS, type Channel } from '../connectors/channels.ts';
import type { DB } from './schema.ts';

/** The integrations that can be switched off as a whole (docs/modules.md). */
export const INTEGRATIONS = ['compat_api_v1', 'compat_crm', 'smpp_server', 'verifications', 'mailings'] as const;
export type Integration = (typeof INTEGRATIONS)[number];
export type ModuleName = Channel | Integration;

export interface ModuleInfo {
  name: ModuleName;
  kind: 'channel' | 'integration';
  description: string;
}

const CHANNEL_LABELS: Record<Channel, string> = { sms: 'SMS', telegram: 'Telegram', whatsapp: 'WhatsApp', viber: 'Viber', email: 'e-mail', voice: 'voice call' };

const INTEGRATION_DESCRIPTIONS: Record<Integration, string> = {
  compat_api_v1: 'The compatibility API of seed 001 (/api/v1: send, balance, status). Off: it answers 403 in its own shape.',
  compat_crm: 'The compatibility API of seed 004 (/project, /client, /mailing). Off: it answers 403 in its own shape.',
  smpp_server: 'The SMPP server for customers. Off: new binds are refused with ESME_RBINDFAIL; binds already open stay.',
  verifications: 'One-time codes (/v1/verifications). Off: sending and checking answer 409 module_disabled.',
  mailings: 'Mailings (/v1/mailings) and their runner. Off: changes answer 409 module_disabled and running mailings send no further messages until it is on again.',
};

/** Every module, the channels first, in a fixed order. All are on until switched off. */
export const MODULES: readonly ModuleInfo[] = [
  ...CHANNELS.map((c) => ({ name: c, kind: 'channel' as const, description: `The ${CHANNEL_LABELS[c]} channel. Off: messages, bulk items, cascade steps and verifications on it are refused at accept with channel_disabled; mailings leave it out.` })),
  ...INTEGRATIONS.map((i) => ({ name: i, kind: 'integration' as const, description: INTEGRATION_DESCRIPTIONS[i] })),
];

const NAMES = new Set<string>(MODULES.map((m) => m.name));
export const isModuleName = (name: string): name is ModuleName => NAMES.has(name);

/**
 * The platform's module switches. They belong to the gateway, not to an
 * account (platform administrators and staff change them), so queries take no
 * account id. Only switched modules have a row.
 */
export class ModulesRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /** Every switched module: whether it is on and when it was last switched. */
  async switches(): Promise<Map<ModuleName, { enabled: boolean; updatedAt: number }>> {
    const rows = await this.#db.selectFrom('module_switches').selectAll().execute();
    return new Map(rows.filter((r) => isModuleName(r.name)).map((r) => [r.name as ModuleName, { enabled: r.enabled === 1, updatedAt: r.updated_at }]));
  }

  async set(name: ModuleName, enabled: boolean, now = Date.now()): Promise<void> {
    await this.#db
      .insertInto('module_switches')
      .values({ name, enabled: enabled ? 1 : 0, updated_at: now })
      .onConflict((oc) => oc.column('name').doUpdateSet({ enabled: enabled ? 1 : 0, updated_at: now }))
      .execute();
  }
}

/** how long a process goes by the switches it read: another node's change reaches it within this time */
export const MODULES_TTL_MS = 2000;

/**
 * The modules switched off, as one process sees them: read from the store at
 * most every MODULES_TTL_MS, and at once after `invalidate()` (the node that
 * took a change calls it on its main thread, and its delivery side on reload).
 */
export class ModuleSwitches {
  readonly #repo: ModulesRepository;
  readonly #ttlMs: number;
  #cached: { off: ReadonlySet<ModuleName>; expires: number } | undefined;
  #loading: Promise<ReadonlySet<ModuleName>> | undefined;
  /** bumped by invalidate(): a read begun before it does not fill the cache */
  #generation = 0;

  constructor(repo: ModulesRepository, options: { ttlMs?: number } = {}) {
    this.#repo = repo;
    this.#ttlMs = options.ttlMs ?? MODULES_TTL_MS;
  }

  async disabled(now = Date.now()): Promise<ReadonlySet<ModuleName>> {
    if (this.#cached && this.#cached.expires > now) return this.#cached.off;
    this.#loading ??= this.#load();
    return this.#loading;
  }

  async enabled(name: ModuleName): Promise<boolean> {
    return !(await this.disabled()).has(name);
  }

  invalidate(): void {
    this.#generation++;
    this.#cached = undefined;
    this.#loading = undefined;
  }

  async #load(): Promise<ReadonlySet<ModuleName>> {
    const generation = this.#generation;
    try {
      const switches = await this.#repo.switches();
      const off = new Set([...switches].filter(([, s]) => !s.enabled).map(([name]) => name));
      if (generation === this.#generation) this.#cached = { off, expires: Date.now() + this.#ttlMs };
      return off;
    } finally {
      if (generation === this.#generation) this.#loading = undefined;
    }
  }
}
