import { Alert, Group, Stack, Table, Text, Title } from '@mantine/core';
import { useNavigate } from 'react-router';
import { useI18n } from '../i18n.tsx';
import { ExportButtons, MessageFilterForm, Pager, useMessageSearch } from '../message-filters.tsx';
import { StatusBadge } from '../status.tsx';

export function HistoryPage() {
  const { t, dateTime } = useI18n();
  const navigate = useNavigate();
  const search = useMessageSearch();
  const { page } = search;
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>{t('History')}</Title>
        <Text size="xs" c="dimmed">
          {t('Live: updates as they happen')}
        </Text>
      </Group>
      <MessageFilterForm search={search} />
      {page.error && <Alert color="red">{(page.error as Error).message}</Alert>}
      <Table striped highlightOnHover withTableBorder data-testid="history-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t('Created')}</Table.Th>
            <Table.Th>{t('To')}</Table.Th>
            <Table.Th>{t('Status')}</Table.Th>
            <Table.Th>{t('Parts')}</Table.Th>
            <Table.Th>{t('Text')}</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(page.data?.data ?? []).map((m) => (
            <Table.Tr key={m.id} data-message-id={m.id} style={{ cursor: 'pointer' }} onClick={() => navigate(`/messages/${m.id}`)}>
              <Table.Td>{dateTime(m.created_at)}</Table.Td>
              <Table.Td>{m.to}</Table.Td>
              <Table.Td>
                <StatusBadge status={m.status} />
              </Table.Td>
              <Table.Td>{m.parts_count}</Table.Td>
              <Table.Td>
                <Text size="sm" lineClamp={1} maw={360}>
                  {m.text}
                </Text>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {page.data && page.data.data.length === 0 && <Text c="dimmed">{t('No messages match. Change the filters or send one.')}</Text>}
      <Group>
        <ExportButtons params={search.params} />
        <Pager search={search} />
      </Group>
    </Stack>
  );
}
