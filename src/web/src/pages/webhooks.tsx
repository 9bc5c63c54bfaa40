import { Alert, Badge, Button, Code, Group, Modal, MultiSelect, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useForm } from '@mantine/form';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, ApiError, can, WEBHOOK_EVENT_TYPES, type Page, type Webhook, type WebhookAttempt } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { useSession } from '../session.tsx';

function Deliveries({ webhook }: { webhook: Webhook }) {
  const { t, dateTime } = useI18n();
  const session = useSession();
  const client = useQueryClient();
  // Sends an event again (POST /v1/webhooks/{id}/replay): a new delivery appears in the log.
  const replay = useMutation({
    mutationFn: (eventId: string) => api<{ replayed: number }>('POST', `/v1/webhooks/${webhook.id}/replay`, { event_id: eventId }),
    onSuccess: (r) => {
      notifications.show({ color: 'green', message: t('{n} deliveries queued again', { n: r.replayed }) });
      void client.invalidateQueries({ queryKey: ['webhook-deliveries', webhook.id] });
    },
  });
  const attempts = useQuery({ queryKey: ['webhook-deliveries', webhook.id], queryFn: () => api<Page<WebhookAttempt>>('GET', `/v1/webhooks/${webhook.id}/deliveries?limit=50`), refetchInterval: 5_000 });
  if (attempts.data?.data.length === 0) return <Text c="dimmed">{t('No deliveries yet.')}</Text>;
  return (
    <>
    {replay.error && <Alert color="red">{(replay.error as ApiError).message}</Alert>}
    <Table striped withTableBorder data-testid="deliveries-table">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>{t('When')}</Table.Th>
          <Table.Th>{t('Events')}</Table.Th>
          <Table.Th>{t('Outcome')}</Table.Th>
          <Table.Th>{t('HTTP status')}</Table.Th>
          <Table.Th>{t('Latency')}</Table.Th>
          <Table.Th>{t('Error')}</Table.Th>
          <Table.Th />
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {(attempts.data?.data ?? []).map((a) => (
          <Table.Tr key={a.id}>
            <Table.Td>{dateTime(a.attempted_at)}</Table.Td>
            <Table.Td>{a.event_type}</Table.Td>
            <Table.Td>
              <Badge color={a.status === 'succeeded' ? 'green' : 'red'} variant="light">
                {a.status}
              </Badge>
            </Table.Td>
            <Table.Td>{a.status_code ?? '—'}</Table.Td>
            <Table.Td>{a.latency_ms} ms</Table.Td>
            <Table.Td>{a.error ?? ''}</Table.Td>
            <Table.Td>
              {can.manageWebhooks(session.role) && (
                <Button size="xs" variant="subtle" loading={replay.isPending && replay.variables === a.event_id} onClick={() => replay.mutate(a.event_id)}>
                  {t('Replay')}
                </Button>
              )}
            </Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
    </>
  );
}

export function WebhooksPage() {
  const { t, dateTime } = useI18n();
  const session = useSession();
  const client = useQueryClient();
  const hooks = useQuery({ queryKey: ['webhooks'], queryFn: () => api<Page<Webhook>>('GET', '/v1/webhooks?limit=100') });
  const form = useForm({ initialValues: { url: '', event_types: ['message.delivered', 'message.undelivered'] as string[] } });
  const [created, setCreated] = useState<Webhook | null>(null);
  const [selected, setSelected] = useState<Webhook | null>(null);
  const create = useMutation({
    mutationFn: (v: { url: string; event_types: string[] }) => api<Webhook>('POST', '/v1/webhooks', v),
    onSuccess: (hook) => {
      setCreated(hook);
      form.reset();
      void client.invalidateQueries({ queryKey: ['webhooks'] });
    },
  });
  const allowed = can.manageWebhooks(session.role);
  return (
    <Stack>
      <Title order={2}>{t('Webhooks')}</Title>
      {allowed && (
        <form onSubmit={form.onSubmit((v) => create.mutate(v))}>
          <Group align="end">
            <TextInput label={t('URL')} placeholder="https://example.com/hooks/depesha" required w={360} {...form.getInputProps('url')} name="webhook-url" />
            <MultiSelect label={t('Events')} data={WEBHOOK_EVENT_TYPES} w={360} {...form.getInputProps('event_types')} />
            <Button type="submit" loading={create.isPending}>
              {t('Create webhook')}
            </Button>
          </Group>
        </form>
      )}
      {create.error && <Alert color="red">{(create.error as ApiError).message}</Alert>}
      <Table striped highlightOnHover withTableBorder data-testid="webhooks-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t('URL')}</Table.Th>
            <Table.Th>{t('Events')}</Table.Th>
            <Table.Th>{t('Status')}</Table.Th>
            <Table.Th>{t('Created')}</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(hooks.data?.data ?? []).map((h) => (
            <Table.Tr key={h.id} style={{ cursor: 'pointer' }} onClick={() => setSelected(h)} data-webhook-id={h.id}>
              <Table.Td>{h.url}</Table.Td>
              <Table.Td>{h.event_types.join(', ')}</Table.Td>
              <Table.Td>{!h.enabled ? <Badge color="gray">off</Badge> : h.failing_since ? <Badge color="red">{t('Failing')}</Badge> : <Badge color="green">{t('Active')}</Badge>}</Table.Td>
              <Table.Td>{dateTime(h.created_at)}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {hooks.data && hooks.data.data.length === 0 && <Text c="dimmed">{t('No webhooks yet.')}</Text>}
      {selected && (
        <Stack>
          <Title order={4}>
            {t('Deliveries')}: {selected.url}
          </Title>
          <Deliveries webhook={selected} />
        </Stack>
      )}
      <Modal opened={created !== null} onClose={() => setCreated(null)} title={t('Signing secret')}>
        <Stack>
          <Text size="sm">{t('Copy it now: it is shown only once.')}</Text>
          <Code block>{created?.secret}</Code>
          <Button onClick={() => setCreated(null)}>{t('Done')}</Button>
        </Stack>
      </Modal>
    </Stack>
  );
}
