import { useQueryClient, type QueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { MESSAGE_STATUSES, type Message, type Page, type StatusEvent } from './api.ts';
import { LatestStatuses } from './live-status.ts';

/** Puts a status change into every cached list and message that holds the message; older news changes nothing. */
function apply(client: QueryClient, latest: LatestStatuses, event: StatusEvent): void {
  const { message_id: id, status, reason } = event.data;
  if (latest.record(id, { status, reason, at: event.created_at })) {
    client.setQueriesData<Page<Message>>({ queryKey: ['messages'] }, (page) => page && latest.patchPage(page));
    client.setQueryData<Message>(['message', id], (m) => m && latest.patch(m));
  }
  void client.invalidateQueries({ queryKey: ['message-events', id] });
  void client.invalidateQueries({ queryKey: ['stats'] });
}

/**
 * Lists and message pages fetched while an event came (their request was in
 * flight, so the event found nothing to patch, and the server may have
 * answered from before it) get the latest known status when they arrive.
 */
function patchArrivals(client: QueryClient, latest: LatestStatuses): () => void {
  return client.getQueryCache().subscribe((e) => {
    if (e.type !== 'updated' || e.action.type !== 'success') return;
    const [kind] = e.query.queryKey;
    if (kind === 'messages') {
      const page = e.query.state.data as Page<Message> | undefined;
      const patched = page && latest.patchPage(page);
      if (patched && patched !== page) client.setQueryData(e.query.queryKey, patched);
    } else if (kind === 'message') {
      const m = e.query.state.data as Message | undefined;
      const patched = m && latest.patch(m);
      if (patched && patched !== m) client.setQueryData(e.query.queryKey, patched);
    }
  });
}

/**
 * The account's live status changes from GET /v1/events/stream (SSE, sent with
 * the session cookie). EventSource reconnects by itself and resumes with
 * Last-Event-ID, so nothing is missed between drops; what changed before the
 * stream first opened is fetched again once it is open.
 */
export function useLiveEvents(): void {
  const client = useQueryClient();
  useEffect(() => {
    const latest = new LatestStatuses();
    const unsubscribe = patchArrivals(client, latest);
    const source = new EventSource('/v1/events/stream');
    let opened = false;
    source.addEventListener('open', () => {
      if (opened) return;
      opened = true;
      void client.invalidateQueries({ queryKey: ['messages'] });
      void client.invalidateQueries({ queryKey: ['message'] });
    });
    const onEvent = (e: MessageEvent<string>) => apply(client, latest, JSON.parse(e.data) as StatusEvent);
    const types = MESSAGE_STATUSES.filter((s) => s !== 'accepted').map((s) => `message.${s}`);
    for (const type of types) source.addEventListener(type, onEvent);
    return () => {
      source.close();
      unsubscribe();
    };
  }, [client]);
}
