import { Alert, Badge, Button, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { api, type ExportJob, type Page } from '../api.ts';
import { useI18n } from '../i18n.tsx';

const COLORS: Record<ExportJob['status'], string> = { queued: 'gray', running: 'blue', ready: 'green', failed: 'red' };

function size(bytes: number | null): string {
  if (bytes === null) return '—';
  if (bytes < 1024 * 1024) return `${Math.max(1, Math.round(bytes / 1024))} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Background exports: made from History or Reports, written by the server, downloaded when ready. */
export function ExportsPage() {
  const { t, dateTime } = useI18n();
  const jobs = useQuery({
    queryKey: ['exports'],
    queryFn: () => api<Page<ExportJob>>('GET', '/v1/exports?limit=50'),
    // Polled while one is still being written.
    refetchInterval: (q) => ((q.state.data?.data ?? []).some((j) => j.status === 'queued' || j.status === 'running') ? 1_000 : false),
  });
  return (
    <Stack>
      <Title order={2}>{t('Exports')}</Title>
      <Text c="dimmed" size="sm">
        {t('Large reports are written in the background: start one from History or Reports with "Export in background", then download it here when it is ready.')}
      </Text>
      {jobs.error && <Alert color="red">{(jobs.error as Error).message}</Alert>}
      <Table striped withTableBorder data-testid="exports-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t('Created')}</Table.Th>
            <Table.Th>{t('Format')}</Table.Th>
            <Table.Th>{t('Filters')}</Table.Th>
            <Table.Th>{t('Status')}</Table.Th>
            <Table.Th>{t('Rows')}</Table.Th>
            <Table.Th>{t('Size')}</Table.Th>
            <Table.Th />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(jobs.data?.data ?? []).map((j) => (
            <Table.Tr key={j.id} data-export-id={j.id}>
              <Table.Td>{dateTime(j.created_at)}</Table.Td>
              <Table.Td>{j.format.toUpperCase()}</Table.Td>
              <Table.Td>
                <Text size="xs">{Object.entries(j.filters).map(([k, v]) => `${k}: ${k === 'since' || k === 'until' ? dateTime(v) : t(v)}`).join(', ') || t('all messages')}</Text>
              </Table.Td>
              <Table.Td>
                <Badge color={COLORS[j.status]} variant="light" data-export-status={j.status}>
                  {t(j.status)}
                </Badge>
                {j.error && (
                  <Text size="xs" c="red">
                    {j.error}
                  </Text>
                )}
              </Table.Td>
              <Table.Td>{j.rows}</Table.Td>
              <Table.Td>{size(j.bytes)}</Table.Td>
              <Table.Td>
                {j.download_url && (
                  <Button component="a" size="xs" variant="light" href={j.download_url} download>
                    {t('Download')}
                  </Button>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {jobs.data && jobs.data.data.length === 0 && <Text c="dimmed">{t('No exports yet. Start one from History or Reports.')}</Text>}
    </Stack>
  );
}
