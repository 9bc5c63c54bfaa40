import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { api, type MailingStats } from './api.ts';
import { newerStats } from './mailing-stats.ts';

/** how often the statistics are polled while the progress stream is not open (it dropped, or cannot open) */
export const PROGRESS_POLL_MS = 2_000;
/** a refused or ended progress stream is opened again after this, doubling up to REOPEN_MAX_MS */
const REOPEN_MIN_MS = 3_000;
const REOPEN_MAX_MS = 30_000;

/**
 * A mailing's run statistics, live while `live` (the mailing is scheduled or
 * running): the figures come from `GET /v1/events/stream?types=mailing.progress`
 * (the same body as GET /v1/mailings/{id}/stats, at most once a second while
 * they change, and once more when the run stops); while that stream is not
 * open (not yet, dropped, or refused: opened again 3 s later, then less often)
 * the stats route is polled instead. The
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
    let source: EventSource | undefined;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let delay = REOPEN_MIN_MS;
    let stopped = false;
    const open = () => {
      const s = new EventSource('/v1/events/stream?types=mailing.progress');
      source = s;
      // A stream the server refused (or ended) is not reopened by the browser: it is opened again later, polling meanwhile.
      const reopen = () => {
        s.close();
        setStreaming(false);
        if (stopped) return;
        clearTimeout(retry);
        retry = setTimeout(open, delay);
        delay = Math.min(delay * 2, REOPEN_MAX_MS);
      };
      s.addEventListener('open', () => {
        delay = REOPEN_MIN_MS;
        setStreaming(true);
        void client.invalidateQueries({ queryKey: ['mailing-stats', id] });
      });
      // A dropped connection is retried by EventSource itself (CONNECTING); polling covers the gap.
      s.addEventListener('error', () => (s.readyState === EventSource.CLOSED ? reopen() : setStreaming(false)));
      // Dropped by the server (a slow reader, the gateway stopping, the session ended).
      s.addEventListener('dropped', reopen);
      s.addEventListener('mailing.progress', (e: MessageEvent<string>) => {
        const data = (JSON.parse(e.data) as { data: MailingStats }).data;
        if (data.mailing_id !== id) return;
        client.setQueryData<MailingStats>(['mailing-stats', id], (current) => newerStats(current, data));
        // The run stopped (finished, paused, cancelled, waiting for its next run): the mailing itself changed too.
        if (data.status !== 'running') void client.invalidateQueries({ queryKey: ['mailing', id] });
      });
    };
    open();
    return () => {
      stopped = true;
      clearTimeout(retry);
      source?.close();
      setStreaming(false);
    };
  }, [client, id, live]);
  return { stats: query.data, error: query.error, streaming };
}
