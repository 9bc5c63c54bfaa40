import { Alert, Anchor, Code, Group, Paper, SimpleGrid, Stack, Table, Text, Timeline, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { api, type Message, type MessageWebhook, type Page, type StatusEvent } from '../api.ts';
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
  const hooks = useQuery({ queryKey: ['message-webhooks', id], queryFn: () => api<{ data: MessageWebhook[] }>('GET', `/v1/messages/${id}/webhooks`), refetchInterval: 5_000 });
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
            <Field label={t('Reason')}>{m.reason ? `${m.reason.code}: ${m.reason.description}${m.reason.provider_code ? ` (${m.reason.provider_code})` : ''}${m.reason.detail ? ` — ${m.reason.detail}` : ''}` : '—'}</Field>
            <Field label={t('Operator')}>
              <span data-testid="message-operator">{[m.operator, m.region].filter(Boolean).join(' · ') || '—'}</span>
            </Field>
            <Field label={t('Price')}>{m.price ?? '—'}</Field>
            <Field label={t('Traffic type')}>{m.traffic_type ?? '—'}</Field>
            <Field label={t('Attempts')}>{m.attempts ?? '—'}</Field>
            <Field label={t('Delivered')}>{dateTime(m.delivered_at ?? null)}</Field>
          </SimpleGrid>
          <Code block mt="md">
            {m.text}
          </Code>
        </Paper>
      )}
      {m?.parts && m.parts.length > 0 && (
        <>
          <Title order={4}>{t('Parts')}</Title>
          <Table withTableBorder data-testid="parts-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>#</Table.Th>
                <Table.Th>{t('Status')}</Table.Th>
                <Table.Th>{t('Provider id')}</Table.Th>
                <Table.Th>{t('Provider code')}</Table.Th>
                <Table.Th>{t('Sent')}</Table.Th>
                <Table.Th>{t('Finished')}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {m.parts.map((p) => (
                <Table.Tr key={p.index}>
                  <Table.Td>{p.index}</Table.Td>
                  <Table.Td>
                    {p.status}
                    {p.reason ? ` · ${p.reason}` : ''}
                  </Table.Td>
                  <Table.Td>
                    <Code>{p.provider_message_id ?? '—'}</Code>
                  </Table.Td>
                  <Table.Td>{p.provider_code ?? '—'}</Table.Td>
                  <Table.Td>{dateTime(p.sent_at)}</Table.Td>
                  <Table.Td>{dateTime(p.done_at)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </>
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
      <Title order={4}>{t('Webhooks sent')}</Title>
      {hooks.data && hooks.data.data.length === 0 && <Text c="dimmed">{t('No webhooks for this message: the account has no subscription for its events.')}</Text>}
      {hooks.data && hooks.data.data.length > 0 && (
        <Table withTableBorder data-testid="message-webhooks">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t('Event')}</Table.Th>
              <Table.Th>URL</Table.Th>
              <Table.Th>{t('Status')}</Table.Th>
              <Table.Th>{t('Attempts')}</Table.Th>
              <Table.Th>{t('Delivered')}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {hooks.data.data.map((h) => (
              <Table.Tr key={h.id} data-webhook-status={h.status}>
                <Table.Td>{h.event_type}</Table.Td>
                <Table.Td>
                  <Text size="xs" style={{ wordBreak: 'break-all' }}>
                    {h.url}
                  </Text>
                </Table.Td>
                <Table.Td>{h.status}</Table.Td>
                <Table.Td>{h.attempts}</Table.Td>
                <Table.Td>{dateTime(h.delivered_at)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}
