import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { api, type MailingStats } from './api.ts';
import { newerStats } from './mailing-stats.ts';

/** how often the statistics are polled while the progress stream is not open (it dropped, or cannot open) */
export const PROGRESS_POLL_MS = 2_000;

/**
 * A mailing's run statistics, live while `live` (the mailing is scheduled or
 * running): the figures come from `GET /v1/events/stream?types=mailing.progress`
 * (the same body as GET /v1/mailings/{id}/stats, at most once a second while
 * they change, and once more when the run stops); while that stream is not
 * open (not yet, dropped, or refused) the stats route is polled instead. The
 * stream carries no `message.*` events and is not replayed: once it opens the
 * stats are fetched once, for what changed before. An older figure never
 * replaces a newer one (newerStats). `streaming`: the stream is open now.
 */
export function useMailingProgress(id: string, live: boolean): { stats: MailingStats | undefined; error: unknown; streaming: boolean } {
  const client = useQueryClient();
  const [streaming, setStreaming] = useState(false);
  const key = ['mailing-stats', id];
  const query = useQuery({
    queryKey: key,
    queryFn: async () => newerStats(client.getQueryData<MailingStats>(key), await api<MailingStats>('GET', `/v1/mailings/${encodeURIComponent(id)}/stats`)),
    refetchInterval: live && !streaming ? PROGRESS_POLL_MS : false,
  });
  useEffect(() => {
    if (!live) return;
    const source = new EventSource('/v1/events/stream?types=mailing.progress');
    const closed = () => setStreaming(false);
    source.addEventListener('open', () => {
      setStreaming(true);
      void client.invalidateQueries({ queryKey: ['mailing-stats', id] });
    });
    source.addEventListener('error', closed);
    // Dropped by the server (a slow reader, the gateway stopping, the session ended): polling takes over.
    source.addEventListener('dropped', () => {
      source.close();
      closed();
    });
    source.addEventListener('mailing.progress', (e: MessageEvent<string>) => {
      const data = (JSON.parse(e.data) as { data: MailingStats }).data;
      if (data.mailing_id !== id) return;
      client.setQueryData<MailingStats>(['mailing-stats', id], (current) => newerStats(current, data));
      // The run stopped (finished, paused, cancelled, waiting for its next run): the mailing itself changed too.
      if (data.status !== 'running') void client.invalidateQueries({ queryKey: ['mailing', id] });
    });
    return () => {
      source.close();
      closed();
    };
  }, [client, id, live]);
  return { stats: query.data, error: query.error, streaming };
}
