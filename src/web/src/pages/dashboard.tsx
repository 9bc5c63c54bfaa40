import { Alert, Badge, Paper, SimpleGrid, Stack, Switch, Table, Text, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, can, MESSAGE_STATUSES, qs, type ConnectorState } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { useSession } from '../session.tsx';
import { StatusBadge } from '../status.tsx';

interface Stats {
  total: number;
  by_status: Record<string, number>;
}

function startOfToday(): string {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d.toISOString();
}

export function DashboardPage() {
  const { t } = useI18n();
  const session = useSession();
  const stats = useQuery({ queryKey: ['stats', 'today'], queryFn: () => api<Stats>('GET', `/v1/stats/messages${qs({ since: startOfToday() })}`), refetchInterval: 10_000 });
  const connectors = useQuery({
    queryKey: ['connectors'],
    queryFn: () => api<{ data: ConnectorState[] }>('GET', '/v1/connectors'),
    enabled: can.seeConnectors(session.role),
    refetchInterval: 5_000,
  });
  const client = useQueryClient();
  // Switching a connector off sends its routes' traffic to their next connector (docs/routing.md).
  const toggle = useMutation({
    mutationFn: (c: { id: string; enabled: boolean }) => api<ConnectorState>('PATCH', `/v1/connectors/${encodeURIComponent(c.id)}`, { enabled: c.enabled }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ['connectors'] }),
  });
  const s = stats.data;
  const delivered = (s?.by_status.delivered ?? 0) + (s?.by_status.read ?? 0);
  const finished = delivered + ['undelivered', 'failed', 'expired', 'rejected'].reduce((n, k) => n + (s?.by_status[k] ?? 0), 0);
  return (
    <Stack>
      <Title order={2}>{t('Dashboard')}</Title>
      <Title order={4}>{t('Messages today')}</Title>
      {stats.error && <Alert color="red">{(stats.error as Error).message}</Alert>}
      <SimpleGrid cols={{ base: 2, sm: 4, lg: 6 }}>
        <Paper withBorder p="md">
          <Text size="xs" c="dimmed">
            {t('Total')}
          </Text>
          <Text size="xl" fw={700} data-testid="stat-total">
            {s?.total ?? '…'}
          </Text>
        </Paper>
        <Paper withBorder p="md">
          <Text size="xs" c="dimmed">
            {t('Delivery rate')}
          </Text>
          <Text size="xl" fw={700}>
            {finished === 0 ? '—' : `${Math.round((delivered / finished) * 100)} %`}
          </Text>
        </Paper>
        {MESSAGE_STATUSES.filter((st) => (s?.by_status[st] ?? 0) > 0).map((st) => (
          <Paper withBorder p="md" key={st}>
            <StatusBadge status={st} />
            <Text size="xl" fw={700} data-testid={`stat-${st}`}>
              {s?.by_status[st]}
            </Text>
          </Paper>
        ))}
      </SimpleGrid>
      <Title order={4}>{t('Connector health')}</Title>
      {toggle.error && <Alert color="red">{(toggle.error as Error).message}</Alert>}
      {!can.seeConnectors(session.role) ? (
        <Text c="dimmed">{t('Connector health is visible to platform administrators and staff.')}</Text>
      ) : (
        <Table striped withTableBorder>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t('Connector')}</Table.Th>
              <Table.Th>{t('Type')}</Table.Th>
              <Table.Th>{t('Status')}</Table.Th>
              <Table.Th>{t('Links')}</Table.Th>
              <Table.Th>{t('Enabled')}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(connectors.data?.data ?? []).map((c) => (
              <Table.Tr key={c.id}>
                <Table.Td>{c.id}</Table.Td>
                <Table.Td>{c.type}</Table.Td>
                <Table.Td>
                  <Badge color={c.status === 'up' ? 'green' : c.status === 'degraded' ? 'yellow' : 'red'} variant="light">
                    {c.status}
                  </Badge>
                  {c.detail && (
                    <Text size="xs" c="dimmed">
                      {c.detail}
                    </Text>
                  )}
                </Table.Td>
                <Table.Td>
                  {c.links_up}/{c.links_total}
                </Table.Td>
                <Table.Td>
                  <Switch
                    checked={c.enabled}
                    aria-label={`${t('Enabled')}: ${c.id}`}
                    disabled={toggle.isPending}
                    onChange={(e) => toggle.mutate({ id: c.id, enabled: e.currentTarget.checked })}
                  />
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}
