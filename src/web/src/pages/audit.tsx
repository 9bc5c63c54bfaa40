import { Alert, Badge, Button, Code, Stack, Table, Text, Title } from '@mantine/core';
import { useInfiniteQuery } from '@tanstack/react-query';
import { api, qs, type AuditEntry, type Page } from '../api.ts';
import { useI18n } from '../i18n.tsx';

export function AuditPage() {
  const { t, dateTime } = useI18n();
  const log = useInfiniteQuery({
    queryKey: ['audit-log'],
    queryFn: ({ pageParam }) => api<Page<AuditEntry>>('GET', `/v1/audit-log${qs({ limit: 50, cursor: pageParam })}`),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const rows = log.data?.pages.flatMap((p) => p.data) ?? [];
  return (
    <Stack>
      <Title order={2}>{t('Audit log')}</Title>
      {log.error && <Alert color="red">{(log.error as Error).message}</Alert>}
      <Table striped withTableBorder>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t('When')}</Table.Th>
            <Table.Th>{t('Actor')}</Table.Th>
            <Table.Th>{t('Action')}</Table.Th>
            <Table.Th>{t('Target')}</Table.Th>
            <Table.Th>{t('Outcome')}</Table.Th>
            <Table.Th>IP</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((e) => (
            <Table.Tr key={e.id}>
              <Table.Td>{dateTime(e.created_at)}</Table.Td>
              <Table.Td>{e.actor.label}</Table.Td>
              <Table.Td>
                <Code>{e.action}</Code>
              </Table.Td>
              <Table.Td>{e.target_id ?? ''}</Table.Td>
              <Table.Td>
                <Badge color={e.outcome === 'succeeded' ? 'green' : 'red'} variant="light">
                  {e.outcome}
                </Badge>
              </Table.Td>
              <Table.Td>{e.ip ?? ''}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {log.data && rows.length === 0 && <Text c="dimmed">{t('Nothing recorded yet.')}</Text>}
      {log.hasNextPage && (
        <Button variant="default" onClick={() => void log.fetchNextPage()} loading={log.isFetchingNextPage}>
          {t('Older')}
        </Button>
      )}
    </Stack>
  );
}
