import path from 'node:path';
import type { Config } from '../config.ts';
import { SandboxConnector } from './sandbox/sandbox.ts';
import { EmailConnector } from './email/email.ts';
import { HttpConnector } from './http/http.ts';
import { TelegramBotConnector } from './telegram/bot.ts';
import { TelegramGatewayConnector } from './telegram/gateway.ts';
import { VoiceConnector } from './voice/freeswitch.ts';
import { WhatsAppConnector } from './whatsapp/whatsapp.ts';
import { SmppConnector } from './smpp/smpp.ts';
import type { ConnectorDefinition } from './definitions.ts';
import type { Connector } from './types.ts';

/**
 * The connectors the config file gives this node: the sandbox (always there,
 * as `sandbox`, with the file's settings if it names it) and every connector
 * the file declares. Those made through the API come from the store
 * (pipeline/delivery.ts loads and reloads them).
 */
export function createConnectors(config: Config, options: ConnectorOptions): Connector[] {
  const declaredSandbox = config.connectors.find((c) => c.id === 'sandbox' && c.type === 'sandbox');
  const sandbox = new SandboxConnector({
    id: 'sandbox',
    sendLatencyMs: declaredSandbox?.type === 'sandbox' ? (declaredSandbox.send_latency_ms ?? config.sandbox.sendLatencyMs) : config.sandbox.sendLatencyMs,
    receiptDelayMs: declaredSandbox?.type === 'sandbox' ? (declaredSandbox.receipt_delay_ms ?? config.sandbox.receiptDelayMs) : config.sandbox.receiptDelayMs,
    outcomes: declaredSandbox?.type === 'sandbox' ? (declaredSandbox.outcomes ?? config.sandbox.outcomes) : config.sandbox.outcomes,
    journalPath: options.journal ? path.join(config.dataDir, 'sandbox-journal.jsonl') : undefined,
  });
  const connectors: Connector[] = [sandbox];
  for (const definition of config.connectors) if (definition.id !== 'sandbox') connectors.push(createConnector(definition, config, options));
  return connectors;
}

/** How the process builds its connectors. */
export interface ConnectorOptions {
  /** the sandbox keeps a journal of its sends (data directory) */
  journal: boolean;
  /** a cluster holds each SMPP connector's max_submits_per_second across the nodes (cluster/submit-rate.ts): the connector's own limiter then only adapts to the SMSC */
  clusterPaced?: boolean | undefined;
}

/** One connector from its definition (the config file's or the API's). */
export function createConnector(definition: ConnectorDefinition, config: Config, options: ConnectorOptions): Connector {
  if (definition.type === 'smpp') return new SmppConnector(definition, { clusterPaced: options.clusterPaced });
  if (definition.type === 'http') return new HttpConnector(definition);
  if (definition.type === 'telegram_bot') return new TelegramBotConnector(definition);
  if (definition.type === 'telegram_gateway') return new TelegramGatewayConnector(definition);
  if (definition.type === 'whatsapp') return new WhatsAppConnector(definition);
  if (definition.type === 'email') return new EmailConnector(definition);
  if (definition.type === 'voice') return new VoiceConnector(definition);
  return new SandboxConnector({
    id: definition.id,
    sendLatencyMs: definition.send_latency_ms,
    receiptDelayMs: definition.receipt_delay_ms,
    outcomes: definition.outcomes,
    journalPath: options.journal ? path.join(config.dataDir, `sandbox-journal-${definition.id}.jsonl`) : undefined,
  });
}
