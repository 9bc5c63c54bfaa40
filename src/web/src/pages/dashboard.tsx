import { Alert, Badge, Code, Group, Paper, SimpleGrid, Stack, Switch, Table, Text, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { api, can, MESSAGE_STATUSES, qs, type ConnectorState, type MessageStats, type MinuteStats } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { useSession } from '../session.tsx';
import { StatusBadge } from '../status.tsx';

function Counts({ title, counts, testId }: { title: string; counts: Record<string, number>; testId: string }) {
  const { t } = useI18n();
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  return (
    <Paper withBorder p="md">
      <Text fw={600} mb="xs">
        {title}
      </Text>
      {entries.length === 0 ? (
        <Text c="dimmed" size="sm">
          {t('No messages yet today.')}
        </Text>
      ) : (
        <Table data-testid={testId}>
          <Table.Tbody>
            {entries.map(([k, n]) => (
              <Table.Tr key={k}>
                <Table.Td>{t(k)}</Table.Td>
                <Table.Td ta="right">{n}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Paper>
  );
}

/** The last hour, a point a minute: polled every 5 s (and at once when the event stream reports a change). */
function LiveCharts() {
  const { t, time } = useI18n();
  const series = useQuery({ queryKey: ['stats', 'throughput'], queryFn: () => api<{ data: MinuteStats[] }>('GET', '/v1/stats/throughput?minutes=60'), refetchInterval: 5_000 });
  const data = (series.data?.data ?? []).map((m) => ({ ...m, label: time(m.minute) }));
  return (
    <SimpleGrid cols={{ base: 1, lg: 2 }}>
      <Paper withBorder p="md" data-testid="throughput-chart">
        <Text fw={600} mb="xs">
          {t('Throughput, messages a minute')}
        </Text>
        <ResponsiveContainer width="100%" height={220}>
          <LineChart data={data}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="label" minTickGap={24} />
            <YAxis allowDecimals={false} />
            <Tooltip />
            <Legend />
            <Line type="monotone" dataKey="accepted" name={t('accepted')} stroke="#4c6ef5" dot={false} isAnimationActive={false} />
            <Line type="monotone" dataKey="sent" name={t('sent')} stroke="#15aabf" dot={false} isAnimationActive={false} />
            <Line type="monotone" dataKey="delivered" name={t('delivered')} stroke="#40c057" dot={false} isAnimationActive={false} />
          </LineChart>
        </ResponsiveContainer>
      </Paper>
      <Paper withBorder p="md" data-testid="latency-chart">
        <Text fw={600} mb="xs">
          {t('Latency, ms (mean a minute)')}
        </Text>
        <ResponsiveContainer width="100%" height={220}>
          <LineChart data={data}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="label" minTickGap={24} />
            <YAxis />
            <Tooltip />
            <Legend />
            <Line type="monotone" dataKey="submit_latency_ms" name={t('to the provider')} stroke="#fab005" connectNulls dot={{ r: 2 }} isAnimationActive={false} />
            <Line type="monotone" dataKey="delivery_latency_ms" name={t('to the receipt')} stroke="#fa5252" connectNulls dot={{ r: 2 }} isAnimationActive={false} />
          </LineChart>
        </ResponsiveContainer>
      </Paper>
    </SimpleGrid>
  );
}

export function DashboardPage() {
  const { t, dayBound, today } = useI18n();
  const session = useSession();
  // "Today" is the account's day (its time zone, Settings).
  const since = dayBound(today(), false);
  const stats = useQuery({ queryKey: ['stats', 'today', since], queryFn: () => api<MessageStats>('GET', `/v1/stats/messages${qs({ since })}`), refetchInterval: 10_000 });
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
          <Text size="xl" fw={700} data-testid="stat-delivery-rate">
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
      {s && s.total === 0 && <Text c="dimmed">{t('No messages yet today. Send one from the Send page or through the API.')}</Text>}
      <SimpleGrid cols={{ base: 1, sm: 2 }}>
        <Counts title={t('By channel')} counts={s?.by_channel ?? {}} testId="stat-by-channel" />
        <Counts title={t('By operator')} counts={s?.by_operator ?? {}} testId="stat-by-operator" />
      </SimpleGrid>
      <LiveCharts />
      <Group justify="space-between">
        <Title order={4}>{t('Connector health')}</Title>
      </Group>
      {toggle.error && <Alert color="red">{(toggle.error as Error).message}</Alert>}
      {!can.seeConnectors(session.role) ? (
        <Text c="dimmed">{t('Connector health is visible to platform administrators and staff.')}</Text>
      ) : (
        <ConnectorTable connectors={connectors.data?.data ?? []} onToggle={(id, enabled) => toggle.mutate({ id, enabled })} busy={toggle.isPending} />
      )}
    </Stack>
  );
}

const STATE_COLORS: Record<ConnectorState['status'], string> = { up: 'green', degraded: 'yellow', connecting: 'blue', down: 'red', stopped: 'gray' };

/**
 * A connector's part on each worker node of a cluster (`nodes` of GET
 * /v1/connectors): the node's id, its bind state and since when, its links,
 * its circuit and its last error. A worker running none of an SMPP
 * connector's binds shows up with 0 of 0 links.
 */
function ConnectorNodes({ connector }: { connector: ConnectorState }) {
  const { t, dateTime } = useI18n();
  const nodes = connector.nodes ?? [];
  return (
    <Table withTableBorder verticalSpacing={2} fz="xs" data-testid={`connector-nodes-${connector.id}`}>
      <Table.Thead>
        <Table.Tr>
          <Table.Th>{t('Node')}</Table.Th>
          <Table.Th>{t('Bind state')}</Table.Th>
          <Table.Th>{t('Since')}</Table.Th>
          <Table.Th>{t('Links')}</Table.Th>
          <Table.Th>{t('Circuit')}</Table.Th>
          <Table.Th>{t('Last error')}</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {nodes.map((n) => (
          <Table.Tr key={n.node} data-node-id={n.node}>
            <Table.Td style={{ wordBreak: 'break-all' }}>
              <Code fz="xs">{n.node}</Code>
            </Table.Td>
            <Table.Td>
              <Badge size="sm" color={STATE_COLORS[n.status]} variant="light" data-node-status={n.status}>
                {n.status}
              </Badge>
            </Table.Td>
            <Table.Td>{dateTime(n.since)}</Table.Td>
            <Table.Td>
              {n.links_up}/{n.links_total}
            </Table.Td>
            <Table.Td>{t(n.circuit === 'half_open' ? 'half open' : n.circuit)}</Table.Td>
            <Table.Td style={{ wordBreak: 'break-word' }} data-testid="node-detail">
              {n.detail ?? '—'}
            </Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

export function ConnectorTable({ connectors, onToggle, busy, actions }: { connectors: ConnectorState[]; onToggle(id: string, enabled: boolean): void; busy: boolean; actions?: (c: ConnectorState) => React.ReactNode }) {
  const { t } = useI18n();
  const columns = actions ? 6 : 5;
  return (
    <Table striped withTableBorder data-testid="connectors-table">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>{t('Connector')}</Table.Th>
          <Table.Th>{t('Type')}</Table.Th>
          <Table.Th>{t('Status')}</Table.Th>
          <Table.Th>{t('Links')}</Table.Th>
          <Table.Th>{t('Enabled')}</Table.Th>
          {actions && <Table.Th />}
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {connectors.flatMap((c) => [
          <Table.Tr key={c.id} data-connector-id={c.id}>
            <Table.Td>{c.id}</Table.Td>
            <Table.Td>{c.type}</Table.Td>
            <Table.Td>
              <Badge color={c.status === 'up' ? 'green' : c.status === 'degraded' ? 'yellow' : 'red'} variant="light" data-connector-status={c.status}>
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
              <Switch checked={c.enabled} aria-label={`${t('Enabled')}: ${c.id}`} disabled={busy} onChange={(e) => onToggle(c.id, e.currentTarget.checked)} />
            </Table.Td>
            {actions && <Table.Td>{actions(c)}</Table.Td>}
          </Table.Tr>,
          ...(c.nodes && c.nodes.length > 0
            ? [
                <Table.Tr key={`${c.id} nodes`} data-nodes-of={c.id}>
                  <Table.Td colSpan={columns} pl="xl">
                    <ConnectorNodes connector={c} />
                  </Table.Td>
                </Table.Tr>,
              ]
            : []),
        ])}
      </Table.Tbody>
    </Table>
  );
}
