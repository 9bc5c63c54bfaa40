import type { Config } from '../config.ts';
import path from 'node:path';
import { SandboxConnector } from './sandbox/sandbox.ts';
import type { Connector } from './types.ts';

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
