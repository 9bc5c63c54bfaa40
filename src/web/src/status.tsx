import { Badge } from '@mantine/core';
import type { MessageStatus } from './api.ts';
import { useI18n } from './i18n.tsx';

const COLORS: Record<MessageStatus, string> = {
  accepted: 'gray',
  queued: 'gray',
  sent: 'blue',
  delivered: 'green',
  read: 'teal',
  undelivered: 'orange',
  failed: 'red',
  expired: 'yellow',
  rejected: 'red',
  cancelled: 'gray',
};

export function StatusBadge({ status }: { status: MessageStatus }) {
  const { t } = useI18n();
  return (
    <Badge color={COLORS[status]} variant="light" data-status={status}>
      {t(status)}
    </Badge>
  );
}

export function ErrorNote({ error }: { error: unknown }) {
  const { t } = useI18n();
  if (!error) return null;
  return <Badge color="red" variant="outline">{error instanceof Error ? error.message : t('Something went wrong')}</Badge>;
}
