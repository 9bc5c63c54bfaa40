import type { Config } from '../config.ts';
import path from 'node:path';
import { SandboxConnector, sandboxManifest } from './sandbox/sandbox.ts';
import type { Connector, ConnectorManifest } from './types.ts';

/** Every connector type Depesha knows, by type name. */
export const CONNECTOR_MANIFESTS: Readonly<Record<string, ConnectorManifest>> = {
  sandbox: sandboxManifest,
};

/**
 * The connectors of this node. For now one sandbox connector named `sandbox`;
 * connectors configured through the API and the config file come with routing.
 */
export function createConnectors(config: Config, options: { journal: boolean }): Connector[] {
  return [
    new SandboxConnector({
      id: 'sandbox',
      sendLatencyMs: config.sandbox.sendLatencyMs,
      receiptDelayMs: config.sandbox.receiptDelayMs,
      journalPath: options.journal ? path.join(config.dataDir, 'sandbox-journal.jsonl') : undefined,
    }),
  ];
}
