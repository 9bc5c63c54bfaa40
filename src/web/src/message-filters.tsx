import { Button, Group, Menu, Select, Text, TextInput } from '@mantine/core';
import { useForm, type UseFormReturnType } from '@mantine/form';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useNavigate } from 'react-router';
import { api, ApiError, MESSAGE_STATUSES, qs, type ExportJob, type Message, type Page } from './api.ts';
import { useI18n } from './i18n.tsx';

/** History's and the delivery report's filters (the query of GET /v1/messages, /v1/reports/messages and POST /v1/exports). */
export interface MessageFilters {
  to: string;
  group: string;
  project: string;
  status: string | null;
  since: string;
  until: string;
}

const EMPTY: MessageFilters = { to: '', group: '', project: '', status: null, since: '', until: '' };

export type FilterParams = Record<string, string | undefined | null>;

/**
 * The messages matching the filters, a server-side page at a time: the form,
 * the filters applied, their query parameters and the page shown.
 */
export function useMessageSearch(pageSize = 25) {
  const { dayBound } = useI18n();
  const form = useForm<MessageFilters>({ initialValues: EMPTY });
  const [filters, setFilters] = useState<MessageFilters>(EMPTY);
  // Cursors of the pages before this one: the server paginates, the cabinet only remembers the way back.
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const params: FilterParams = {
    to: filters.to.trim(),
    group: filters.group.trim(),
    project: filters.project.trim(),
    status: filters.status,
    since: dayBound(filters.since, false),
    until: dayBound(filters.until, true),
  };
  const query = qs({ ...params, cursor, limit: pageSize });
  const page = useQuery({ queryKey: ['messages', query], queryFn: () => api<Page<Message>>('GET', `/v1/messages${query}`), placeholderData: keepPreviousData });
  const apply = (f: MessageFilters) => {
    setFilters(f);
    setCursors([undefined]);
  };
  return {
    form,
    params,
    page,
    apply,
    reset: () => {
      form.setValues(EMPTY);
      apply(EMPTY);
    },
    newer: cursors.length > 1 ? () => setCursors((c) => c.slice(0, -1)) : null,
    older: page.data?.next_cursor ? () => setCursors((c) => [...c, page.data!.next_cursor!]) : null,
  };
}

export type MessageSearch = ReturnType<typeof useMessageSearch>;

/** The filter form: number, group, project, status and period. */
export function MessageFilterForm({ search }: { search: MessageSearch }) {
  const { t } = useI18n();
  const form: UseFormReturnType<MessageFilters> = search.form;
  return (
    <form onSubmit={form.onSubmit(search.apply)}>
      <Group align="end">
        <TextInput label={t('Number')} placeholder="+7 916 123-45-67" {...form.getInputProps('to')} name="to" />
        <TextInput label={t('Group')} w={140} {...form.getInputProps('group')} name="group" />
        <TextInput label={t('Project')} w={140} {...form.getInputProps('project')} name="project" />
        <Select label={t('Status')} placeholder={t('All statuses')} clearable data={MESSAGE_STATUSES.map((s) => ({ value: s, label: t(s) }))} {...form.getInputProps('status')} />
        <TextInput label={t('From')} type="date" {...form.getInputProps('since')} name="since" />
        <TextInput label={t('Until')} type="date" {...form.getInputProps('until')} name="until" />
        <Button type="submit">{t('Search')}</Button>
        <Button variant="subtle" onClick={search.reset}>
          {t('Reset')}
        </Button>
      </Group>
    </form>
  );
}

/**
 * The report of what the filters match: streamed CSV and XLSX downloads, or
 * a background export offered on the Exports page when ready.
 */
export function ExportButtons({ params }: { params: FilterParams }) {
  const { t } = useI18n();
  const navigate = useNavigate();
  const client = useQueryClient();
  const set = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  const background = useMutation({
    mutationFn: (format: 'csv' | 'xlsx') => api<ExportJob>('POST', '/v1/exports', { format, ...set }),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ['exports'] });
      navigate('/exports');
    },
  });
  return (
    <>
      {/* The report streams from the server with the same filters; the browser downloads it with the session cookie. */}
      <Button component="a" variant="light" href={`/v1/reports/messages${qs({ format: 'csv', ...params })}`} download>
        {t('Export CSV')}
      </Button>
      <Button component="a" variant="light" href={`/v1/reports/messages${qs({ format: 'xlsx', ...params })}`} download>
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
      {background.error && (
        <Text c="red" size="sm" role="alert">
          {(background.error as ApiError).message}
        </Text>
      )}
    </>
  );
}

/** The way through the pages: newer and older. */
export function Pager({ search }: { search: MessageSearch }) {
  const { t } = useI18n();
  return (
    <>
      <Button variant="default" disabled={!search.newer} onClick={() => search.newer?.()}>
        {t('Newer')}
      </Button>
      <Button variant="default" disabled={!search.older} onClick={() => search.older?.()}>
        {t('Older')}
      </Button>
    </>
  );
}
