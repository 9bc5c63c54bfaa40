import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../../log.ts';

/**
 * Background jobs held by one process under a lease (exports, contact
 * imports): each job row carries its process's random `owner` token and a
 * `lease_until` the process renews every RENEW_MS; once a lease lapsed (the
 * process stopped), whichever process sweeps first deals with the job.
 */
export const LEASE_MS = 60_000;
export const RENEW_MS = 10_000;

/** Renews this process's leases every RENEW_MS and sweeps lapsed jobs every `sweepMs` (and once now), until the app closes. */
export async function keepLeases(app: FastifyInstance, log: Logger, what: string, jobs: { renew(until: number): Promise<void>; sweep(): Promise<void> }, sweepMs: number): Promise<void> {
  const sweep = async () => {
    try {
      await jobs.sweep();
    } catch (err) {
      log.warn({ err }, `the ${what} sweep failed; it runs again later`);
    }
  };
  await sweep();
  const renewing = setInterval(() => void jobs.renew(Date.now() + LEASE_MS).catch((err: unknown) => log.warn({ err }, `renewing the ${what} leases failed`)), RENEW_MS);
  const sweeping = setInterval(() => void sweep(), sweepMs);
  renewing.unref();
  sweeping.unref();
  app.addHook('onClose', async () => {
    clearInterval(renewing);
    clearInterval(sweeping);
  });
}
