import { Alert, Group, Stack, Table, Text, Title } from '@mantine/core';
import { useNavigate } from 'react-router';
import { useI18n } from '../i18n.tsx';
import { ExportButtons, MessageFilterForm, Pager, useMessageSearch } from '../message-filters.tsx';
import { StatusBadge } from '../status.tsx';

/**
 * The delivery report (S17.2, S21): every message the filters match with its
 * text, parts, number, operator, traffic type, status, delivery time and
 * reason; the same filters and exports as History, live as History is.
 */
export function ReportsPage() {
  const { t, dateTime } = useI18n();
  const navigate = useNavigate();
  const search = useMessageSearch(50);
  const { page } = search;
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>{t('Delivery report')}</Title>
        <Text size="xs" c="dimmed">
          {t('Live: updates as they happen')}
        </Text>
      </Group>
      <Text c="dimmed" size="sm">
        {t('Every message the filters match, with what its delivery report says. Export the same rows as CSV or XLSX; large ones in the background.')}
      </Text>
      <MessageFilterForm search={search} />
      {page.error && <Alert color="red">{(page.error as Error).message}</Alert>}
      <Group>
        <ExportButtons params={search.params} />
      </Group>
      <Table striped highlightOnHover withTableBorder data-testid="report-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t('Text')}</Table.Th>
            <Table.Th>{t('Parts')}</Table.Th>
            <Table.Th>{t('Number')}</Table.Th>
            <Table.Th>{t('Operator')}</Table.Th>
            <Table.Th>{t('Traffic type')}</Table.Th>
            <Table.Th>{t('Status')}</Table.Th>
            <Table.Th>{t('Delivery time')}</Table.Th>
            <Table.Th>{t('Reason')}</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(page.data?.data ?? []).map((m) => (
            <Table.Tr key={m.id} data-message-id={m.id} style={{ cursor: 'pointer' }} onClick={() => navigate(`/messages/${m.id}`)}>
              <Table.Td>
                <Text size="sm" lineClamp={1} maw={280}>
                  {m.text}
                </Text>
              </Table.Td>
              <Table.Td>{m.parts_count}</Table.Td>
              <Table.Td>{m.to}</Table.Td>
              <Table.Td>{m.operator ?? '—'}</Table.Td>
              <Table.Td>{m.traffic_type ? t(m.traffic_type) : '—'}</Table.Td>
              <Table.Td>
                <StatusBadge status={m.status} />
              </Table.Td>
              <Table.Td>{dateTime(m.delivered_at ?? null)}</Table.Td>
              <Table.Td>
                {m.reason ? (
                  <Text size="sm" title={m.reason.description}>
                    {m.reason.code}
                    {m.reason.provider_code ? ` (${m.reason.provider_code})` : ''}
                  </Text>
                ) : (
                  '—'
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {page.data && page.data.data.length === 0 && <Text c="dimmed">{t('No messages match. Change the filters or send one.')}</Text>}
      <Group>
        <Pager search={search} />
      </Group>
    </Stack>
  );
}
