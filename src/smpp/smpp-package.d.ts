/**
 * The part of the `smpp` npm package (0.5.1, no types of its own) that
 * interop.test.ts uses: an independent SMPP implementation to test ours
 * against. Field names are the spec's (snake_case); decoded short_message and
 * message_payload come back as `{ udh?, message }` after its text filter.
 */
declare module 'smpp' {
  import type { EventEmitter } from 'node:events';
  import type { Server as NetServer } from 'node:net';

  export interface DecodedMessage {
    /** the information elements of the UDH, each [IEI, length, data…], when esm_class has UDHI */
    udh?: Buffer[];
    message: string | Buffer;
  }

  export interface PDU {
    command: string;
    command_status: number;
    sequence_number: number;
    [field: string]: unknown;
    response(options?: Record<string, unknown>): PDU;
  }

  type Callback = (pdu: PDU) => void;
  type Shortcut = (options: Record<string, unknown>, responseCallback?: Callback) => boolean;

  export interface Session extends EventEmitter {
    send(pdu: PDU, responseCallback?: Callback): boolean;
    close(callback?: () => void): void;
    destroy(callback?: () => void): void;
    bind_transceiver: Shortcut;
    submit_sm: Shortcut;
    deliver_sm: Shortcut;
    enquire_link: Shortcut;
    unbind: Shortcut;
  }

  export interface Server extends NetServer {
    sessions: Session[];
  }

  export function createServer(listener: (session: Session) => void): Server;
  export function connect(options: { host: string; port: number }, listener?: () => void): Session;

  const smpp: { createServer: typeof createServer; connect: typeof connect };
  export default smpp;
}
