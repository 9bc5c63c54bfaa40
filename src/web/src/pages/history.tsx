import { Alert, Button, Group, Menu, Select, Stack, Table, Text, TextInput, Title } from '@mantine/core';

import { useForm } from '@mantine/form';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useNavigate } from 'react-router';
import { api, ApiError, MESSAGE_STATUSES, qs, type ExportJob, type Message, type Page } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { StatusBadge } from '../status.tsx';

interface Filters {
  to: string;
  status: string | null;
  since: string;
  until: string;
}

const EMPTY: Filters = { to: '', status: null, since: '', until: '' };


export function HistoryPage() {
  const { t, dateTime, dayBound } = useI18n();
  const navigate = useNavigate();
  const form = useForm<Filters>({ initialValues: EMPTY });
  const [filters, setFilters] = useState<Filters>(EMPTY);
  // Cursors of the pages before this one: the server paginates, the cabinet only remembers the way back.
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const filterParams = { to: filters.to.trim(), status: filters.status, since: dayBound(filters.since, false), until: dayBound(filters.until, true) };
  const query = qs({ ...filterParams, cursor, limit: 25 });
  const page = useQuery({ queryKey: ['messages', query], queryFn: () => api<Page<Message>>('GET', `/v1/messages${query}`), placeholderData: keepPreviousData });
  const client = useQueryClient();
  // Large reports: the server writes the file in the background; the Exports page offers it when ready.
  const background = useMutation({
    mutationFn: (format: 'csv' | 'xlsx') => api<ExportJob>('POST', '/v1/exports', { format, ...Object.fromEntries(Object.entries(filterParams).filter(([, v]) => v !== undefined && v !== null && v !== '')) }),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ['exports'] });
      navigate('/exports');
    },
  });
  const apply = (f: Filters) => {
    setFilters(f);
    setCursors([undefined]);
  };
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>{t('History')}</Title>
        <Text size="xs" c="dimmed">
          {t('Live: updates as they happen')}
        </Text>
      </Group>
      <form onSubmit={form.onSubmit(apply)}>
        <Group align="end">
          <TextInput label={t('Number')} placeholder="+7 916 123-45-67" {...form.getInputProps('to')} name="to" />
          <Select
            label={t('Status')}
            placeholder={t('All statuses')}
            clearable
            data={MESSAGE_STATUSES.map((s) => ({ value: s, label: t(s) }))}
            {...form.getInputProps('status')}
          />
          <TextInput label={t('From')} type="date" {...form.getInputProps('since')} name="since" />
          <TextInput label={t('Until')} type="date" {...form.getInputProps('until')} name="until" />
          <Button type="submit">{t('Search')}</Button>
          <Button
            variant="subtle"
            onClick={() => {
              form.setValues(EMPTY);
              apply(EMPTY);
            }}
          >
            {t('Reset')}
          </Button>
        </Group>
      </form>
      {page.error && <Alert color="red">{(page.error as Error).message}</Alert>}
      {background.error && <Alert color="red">{(background.error as ApiError).message}</Alert>}
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
        {/* The report streams from the server with the same filters; the browser downloads it with the session cookie. */}
        <Button component="a" variant="light" href={`/v1/reports/messages${qs({ format: 'csv', ...filterParams })}`} download>
          {t('Export CSV')}
        </Button>
        <Button component="a" variant="light" href={`/v1/reports/messages${qs({ format: 'xlsx', ...filterParams })}`} download>
          {t('Export XLSX')}
        </Button>
        <Menu>
          <Menu.Target>
            <Button variant="light" color="gray" loading={background.isPending}>
              {t('Export in background')}
            </Button>
          </Menu.Target>
          <Menu.Dropdown>
            <Menu.Item onClick={() => background.mutate('csv')}>CSV</Menu.Item>
            <Menu.Item onClick={() => background.mutate('xlsx')}>XLSX</Menu.Item>
          </Menu.Dropdown>
        </Menu>
        <Button variant="default" disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
          {t('Newer')}
        </Button>
        <Button variant="default" disabled={!page.data?.next_cursor} onClick={() => setCursors((c) => [...c, page.data!.next_cursor!])}>
          {t('Older')}
        </Button>
      </Group>
    </Stack>
  );
}
