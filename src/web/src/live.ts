import { useQueryClient, type QueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { MESSAGE_STATUSES, type Message, type Page, type StatusEvent } from './api.ts';

/** Puts a status change into every cached list and message that holds the message. */
function apply(client: QueryClient, event: StatusEvent): void {
  const { message_id: id, status, reason } = event.data;
  client.setQueriesData<Page<Message>>({ queryKey: ['messages'] }, (page) =>
    page && { ...page, data: page.data.map((m) => (m.id === id ? { ...m, status, reason } : m)) },
  );
  client.setQueryData<Message>(['message', id], (m) => m && { ...m, status, reason });
  void client.invalidateQueries({ queryKey: ['message-events', id] });
  void client.invalidateQueries({ queryKey: ['stats'] });
}

/**
 * The account's live status changes from GET /v1/events/stream (SSE, sent with
 * the session cookie). EventSource reconnects by itself and resumes with
 * Last-Event-ID, so nothing is missed between drops.
 */
export function useLiveEvents(): void {
  const client = useQueryClient();
  useEffect(() => {
    const source = new EventSource('/v1/events/stream');
    const onEvent = (e: MessageEvent<string>) => apply(client, JSON.parse(e.data) as StatusEvent);
    const types = MESSAGE_STATUSES.filter((s) => s !== 'accepted').map((s) => `message.${s}`);
    for (const type of types) source.addEventListener(type, onEvent);
    return () => source.close();
  }, [client]);
}
