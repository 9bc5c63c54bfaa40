import path from 'node:path';
import type { Config } from '../config.ts';
import { SandboxConnector } from './sandbox/sandbox.ts';
import { SmppConnector } from './smpp/smpp.ts';
import type { Connector } from './types.ts';

/**
 * The connectors of this node: the sandbox (always there, as `sandbox`,
 * unless the config file gives it other settings) and every connector the
 * config file declares.
 */
export function createConnectors(config: Config, options: { journal: boolean }): Connector[] {
  const declaredSandbox = config.connectors.find((c) => c.id === 'sandbox' && c.type === 'sandbox');
  const sandbox = new SandboxConnector({
    id: 'sandbox',
    sendLatencyMs: declaredSandbox?.type === 'sandbox' ? (declaredSandbox.send_latency_ms ?? config.sandbox.sendLatencyMs) : config.sandbox.sendLatencyMs,
    receiptDelayMs: declaredSandbox?.type === 'sandbox' ? (declaredSandbox.receipt_delay_ms ?? config.sandbox.receiptDelayMs) : config.sandbox.receiptDelayMs,
    journalPath: options.journal ? path.join(config.dataDir, 'sandbox-journal.jsonl') : undefined,
  });
  const connectors: Connector[] = [sandbox];
  for (const definition of config.connectors) {
    if (definition.type === 'smpp') connectors.push(new SmppConnector(definition));
    else if (definition.id !== 'sandbox') {
      connectors.push(new SandboxConnector({ id: definition.id, sendLatencyMs: definition.send_latency_ms, receiptDelayMs: definition.receipt_delay_ms, journalPath: options.journal ? path.join(config.dataDir, `sandbox-journal-${definition.id}.jsonl`) : undefined }));
    }
  }
  return connectors;
}
