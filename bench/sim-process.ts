/**
 * The SMSC simulator for latency benches, either in a process of its own
 * (the default: the load generator's garbage collections and its event loop
 * then never delay the operator side, nor the time a submit is stamped with)
 * or in the bench's own process, behind the same asynchronous interface.
 *
 * The child is this file run with `--child`: it starts the simulator, answers
 * requests over the IPC channel, and keeps every submit as `{ text, at, bind }`
 * (the body as latin1, the simulator's clock, the bind it came over).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { SmscSimulator, type SimulatorOptions } from '../src/smpp/simulator.ts';

export interface BenchSubmit {
  /** the short_message or payload, latin1 */
  text: string;
  at: number;
  bind: number;
}

/** What the benches ask of a simulator, wherever it runs. Options are plain data (they cross a process boundary). */
export interface BenchSimulator {
  readonly port: number;
  /** binds open now */
  bound(): Promise<number>;
  /** submits accepted so far */
  count(): Promise<number>;
  /** the submits accepted, from the `from`-th on */
  submits(from?: number): Promise<BenchSubmit[]>;
  stop(): Promise<void>;
}

type PlainOptions = Omit<SimulatorOptions, 'accounts' | 'refuse' | 'withholdReceipt' | 'random'> & { accounts?: Record<string, string> };
type Ask = { op: 'bound' | 'count' | 'stop' } | { op: 'submits'; from: number };
type Request = Ask & { id: number };

const toBench = (sim: SmscSimulator, from: number): BenchSubmit[] => sim.submits.slice(from).map((s) => ({ text: s.body.toString('latin1'), at: s.at, bind: s.bind }));

/** Starts a simulator: in a child process unless `inline`. */
export async function startSimulator(options: PlainOptions, inline = false): Promise<BenchSimulator> {
  if (inline) {
    const sim = new SmscSimulator(options);
    const port = await sim.start();
    return { port, bound: async () => sim.bound, count: async () => sim.submits.length, submits: async (from = 0) => toBench(sim, from), stop: () => sim.stop() };
  }
  const child = fork(import.meta.filename, ['--child'], { execArgv: ['--max-semi-space-size=16'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map<number, (value: unknown) => void>();
  let next = 0;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`the simulator process exited (${code}) before it listened`)));
    child.send({ options });
  });
  child.on('message', (m) => {
    const { id, result } = m as { id: number; result: unknown };
    waiting.get(id)?.(result);
    waiting.delete(id);
  });
  const ask = <T>(request: Ask): Promise<T> =>
    new Promise<T>((resolve) => {
      const id = next++;
      waiting.set(id, resolve as (value: unknown) => void);
      (child as ChildProcess).send({ ...request, id });
    });
  return {
    port,
    bound: () => ask<number>({ op: 'bound' }),
    count: () => ask<number>({ op: 'count' }),
    submits: (from = 0) => ask<BenchSubmit[]>({ op: 'submits', from }),
    async stop() {
      await ask({ op: 'stop' });
      await exited;
    },
  };
}

if (process.argv[2] === '--child' && process.send) {
  const send = process.send.bind(process);
  let sim: SmscSimulator | undefined;
  process.on('message', (m: { options: PlainOptions } | Request) => {
    if ('options' in m) {
      sim = new SmscSimulator(m.options);
      void sim.start().then((port) => send({ port }));
      return;
    }
    const s = sim!;
    if (m.op === 'bound') send({ id: m.id, result: s.bound });
    else if (m.op === 'count') send({ id: m.id, result: s.submits.length });
    else if (m.op === 'submits') send({ id: m.id, result: toBench(s, m.from) });
    else
      void s.stop().then(() => {
        send({ id: m.id, result: null });
        process.disconnect();
      });
  });
}
