import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** A send the sandbox "operator" accepted; kept until its receipt is acknowledged. */
export interface JournalSend {
  /** `<message id>:<part index>`: the submit's idempotency key */
  key: string;
  providerId: string;
  /** the raw receipt text the sandbox will report */
  receipt: string;
  /** epoch ms the receipt is due */
  dueAt: number;
}

type Entry = ({ t: 's' } & JournalSend) | { t: 'a'; providerId: string };

/**
 * The sandbox operator's memory, as an append-only JSON-lines file: what it
 * accepted and which receipts we acknowledged. It lets the sandbox behave like
 * a real SMSC across our restarts: a resubmit with the same key is not sent
 * twice, and receipts we never acknowledged are delivered again.
 * Lines written in the same tick share one write.
 */
export class SandboxJournal {
  readonly #file: string;
  #buffer: string[] = [];
  #flushing: Promise<void> | null = null;

  constructor(file: string) {
    this.#file = file;
  }

  /** Reads the journal, compacts it to the unacknowledged sends, and returns them. */
  load(): JournalSend[] {
    mkdirSync(path.dirname(this.#file), { recursive: true });
    const open = new Map<string, JournalSend>();
    if (existsSync(this.#file)) {
      for (const line of readFileSync(this.#file, 'utf8').split('\n')) {
        if (!line) continue;
        let entry: Entry;
        try {
          entry = JSON.parse(line) as Entry;
        } catch {
          continue; // a line torn by a crash mid-write; everything before it is whole
        }
        if (entry.t === 's') open.set(entry.providerId, { key: entry.key, providerId: entry.providerId, receipt: entry.receipt, dueAt: entry.dueAt });
        else open.delete(entry.providerId);
      }
    }
    const sends = [...open.values()];
    this.compact(sends);
    return sends;
  }

  /** Rewrites the file with only these (still open) sends; lines buffered for the next write follow them. */
  compact(open: Iterable<JournalSend>): void {
    const tmp = `${this.#file}.tmp`;
    let text = '';
    for (const s of open) text += JSON.stringify({ t: 's', ...s }) + '\n';
    writeFileSync(tmp, text);
    renameSync(tmp, this.#file);
  }

  recordSend(send: JournalSend): Promise<void> {
    return this.#append(JSON.stringify({ t: 's', ...send }));
  }

  recordAck(providerId: string): Promise<void> {
    return this.#append(JSON.stringify({ t: 'a', providerId }));
  }

  #append(line: string): Promise<void> {
    this.#buffer.push(line);
    this.#flushing ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        const lines = this.#buffer;
        this.#buffer = [];
        this.#flushing = null;
        try {
          appendFileSync(this.#file, lines.join('\n') + '\n');
          resolve();
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    return this.#flushing;
  }
}
