import { Alert, Anchor, Code, Group, Paper, SimpleGrid, Stack, Text, Timeline, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { api, type Message, type Page, type StatusEvent } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { StatusBadge } from '../status.tsx';

function Field({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div>
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text size="sm">{children}</Text>
    </div>
  );
}

export function MessagePage() {
  const { t, dateTime } = useI18n();
  const { id = '' } = useParams();
  const message = useQuery({ queryKey: ['message', id], queryFn: () => api<Message>('GET', `/v1/messages/${id}`) });
  const events = useQuery({ queryKey: ['message-events', id], queryFn: () => api<Page<StatusEvent>>('GET', `/v1/messages/${id}/events?limit=200`) });
  const m = message.data;
  return (
    <Stack maw={900}>
      <Anchor component={Link} to="/history" size="sm">
        ← {t('Back')}
      </Anchor>
      <Group>
        <Title order={2}>{t('Message')}</Title>
        {m && <StatusBadge status={m.status} />}
      </Group>
      {message.error && <Alert color="red">{(message.error as Error).message}</Alert>}
      {m && (
        <Paper withBorder p="md">
          <SimpleGrid cols={{ base: 1, sm: 3 }}>
            <Field label={t('To')}>{m.to}</Field>
            <Field label={t('Sender')}>{m.from ?? '—'}</Field>
            <Field label={t('Created')}>{dateTime(m.created_at)}</Field>
            <Field label={t('Encoding')}>{`${m.encoding === 'gsm7' ? 'GSM-7' : 'UCS-2'} · ${m.characters} · ${m.parts_count}`}</Field>
            <Field label={t('Connector')}>
              <span data-testid="message-connector">{m.connector ?? '—'}</span>
            </Field>
            <Field label={t('Reason')}>{m.reason ? `${m.reason.code}: ${m.reason.description}` : '—'}</Field>
          </SimpleGrid>
          <Code block mt="md">
            {m.text}
          </Code>
        </Paper>
      )}
      <Title order={4}>{t('Status timeline')}</Title>
      <Timeline active={(events.data?.data.length ?? 0) - 1} bulletSize={16} data-testid="timeline">
        {(events.data?.data ?? []).map((e) => (
          <Timeline.Item key={e.id} title={<StatusBadge status={e.data.status} />}>
            <Text size="xs" c="dimmed">
              {dateTime(e.created_at)}
            </Text>
            {e.data.reason && (
              <Text size="xs">
                {e.data.reason.code}
                {e.data.reason.provider_code ? ` · ${t('Provider code')}: ${e.data.reason.provider_code}` : ''}
              </Text>
            )}
          </Timeline.Item>
        ))}
      </Timeline>
    </Stack>
  );
}
