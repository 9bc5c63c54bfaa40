import { Alert, Anchor, Badge, Button, Group, Paper, Progress, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { api, can, MESSAGE_STATUSES, type Mailing, type MailingStats, type MailingStatus, type Page } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { useMailingProgress } from '../mailing-live.ts';
import { runProgress } from '../mailing-stats.ts';
import { useSession } from '../session.tsx';
import { StatusBadge } from '../status.tsx';

const COLORS: Record<MailingStatus, string> = { draft: 'gray', scheduled: 'blue', running: 'teal', paused: 'yellow', finished: 'green', cancelled: 'gray' };

export function MailingStatusBadge({ status }: { status: MailingStatus }) {
  const { t } = useI18n();
  return (
    <Badge color={COLORS[status]} variant="light" data-mailing-status={status}>
      {t(status)}
    </Badge>
  );
}

/** The account's mailings, newest first; a row opens the mailing. */
export function MailingsPage() {
  const { t, dateTime } = useI18n();
  const navigate = useNavigate();
  const mailings = useQuery({ queryKey: ['mailings'], queryFn: () => api<Page<Mailing>>('GET', '/v1/mailings?limit=100'), refetchInterval: 10_000 });
  return (
    <Stack>
      <Title order={2}>{t('Mailings')}</Title>
      {mailings.error && <Alert color="red">{(mailings.error as Error).message}</Alert>}
      <Table striped highlightOnHover withTableBorder data-testid="mailings-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>№</Table.Th>
            <Table.Th>{t('Name')}</Table.Th>
            <Table.Th>{t('Status')}</Table.Th>
            <Table.Th>{t('Channels')}</Table.Th>
            <Table.Th>{t('Created')}</Table.Th>
            <Table.Th>{t('Finished')}</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(mailings.data?.data ?? []).map((m) => (
            <Table.Tr key={m.id} data-mailing-id={m.id} style={{ cursor: 'pointer' }} onClick={() => navigate(`/mailings/${m.id}`)}>
              <Table.Td>{m.number}</Table.Td>
              <Table.Td>{m.name}</Table.Td>
              <Table.Td>
                <MailingStatusBadge status={m.status} />
              </Table.Td>
              <Table.Td>{m.channels.join(' → ')}</Table.Td>
              <Table.Td>{dateTime(m.created_at)}</Table.Td>
              <Table.Td>{dateTime(m.finished_at)}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {mailings.data && mailings.data.data.length === 0 && <Text c="dimmed">{t('No mailings yet. Mailings are made through the API (POST /v1/mailings).')}</Text>}
    </Stack>
  );
}

function Figure({ label, value, testId }: { label: string; value: React.ReactNode; testId: string }) {
  return (
    <Paper withBorder p="sm">
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text size="xl" fw={700} data-testid={testId}>
        {value}
      </Text>
    </Paper>
  );
}

/** The current (or last) run: how far through its audience, what was sent and delivered, the errors; live while it runs. */
function RunPanel({ stats, streaming, live }: { stats: MailingStats; streaming: boolean; live: boolean }) {
  const { t } = useI18n();
  const p = runProgress(stats);
  const label = p.percent === null ? t('{n} recipients so far', { n: p.through }) : `${p.percent} %`;
  return (
    <Paper withBorder p="md" data-testid="mailing-progress" data-percent={p.percent ?? ''} data-status={stats.status}>
      <Group justify="space-between" mb="xs">
        <Text fw={600}>{p.final ? t('Final figures, run {n}', { n: stats.run_number }) : t('Progress, run {n}', { n: stats.run_number })}</Text>
        <Text size="xs" c="dimmed" data-testid="mailing-progress-source">
          {!live ? '' : streaming ? t('Live: updates as they happen') : t('Reconnecting: polling every 2 s')}
        </Text>
      </Group>
      <Progress.Root size="xl" mb="xs">
        <Progress.Section
          value={p.percent ?? 100}
          color={p.errors > 0 && p.final ? 'orange' : p.final ? 'green' : 'blue'}
          striped={p.percent === null || (live && !p.final)}
          animated={live && !p.final}
          aria-label={t('Progress')}
          data-testid="mailing-progress-bar"
        >
          <Progress.Label>{label}</Progress.Label>
        </Progress.Section>
      </Progress.Root>
      <SimpleGrid cols={{ base: 2, sm: 3, lg: 6 }}>
        <Figure label={t('Audience')} value={p.audience ?? '—'} testId="run-audience" />
        <Figure label={t('Accepted')} value={stats.recipients.accepted} testId="run-accepted" />
        <Figure label={t('Sent')} value={p.sent} testId="run-sent" />
        <Figure label={t('Delivered')} value={p.delivered} testId="run-delivered" />
        <Figure label={t('Remaining')} value={p.remaining ?? '—'} testId="run-remaining" />
        <Figure label={t('Errors')} value={p.errors} testId="run-errors" />
      </SimpleGrid>
      {p.skipped > 0 && (
        <Text size="sm" c="dimmed" mt="xs">
          {t('Skipped: {n} (blocked, no consent, no address or the template failed)', { n: p.skipped })}
        </Text>
      )}
      {p.audience === null && !p.final && stats.run_number > 0 && (
        <Text size="sm" c="dimmed" mt="xs">
          {t('A segment\'s audience is known when its run reaches the end.')}
        </Text>
      )}
      <Group gap="xs" mt="sm" data-testid="run-messages">
        {MESSAGE_STATUSES.filter((s) => (stats.run_messages[s] ?? 0) > 0).map((s) => (
          <Group gap={4} key={s}>
            <StatusBadge status={s} />
            <Text size="sm" data-testid={`run-messages-${s}`}>
              {stats.run_messages[s]}
            </Text>
          </Group>
        ))}
      </Group>
    </Paper>
  );
}

type Verb = 'schedule' | 'pause' | 'resume' | 'cancel';
const VERBS: Record<Verb, { from: MailingStatus[]; label: string }> = {
  schedule: { from: ['draft'], label: 'Start' },
  pause: { from: ['running'], label: 'Pause' },
  resume: { from: ['paused'], label: 'Resume' },
  // A finished mailing too, as the API allows: its messages still held (local time, quiet hours) are cancelled.
  cancel: { from: ['draft', 'scheduled', 'running', 'paused', 'finished'], label: 'Cancel mailing' },
};

export function MailingPage() {
  const { t, dateTime } = useI18n();
  const session = useSession();
  const client = useQueryClient();
  const { id = '' } = useParams();
  // Scheduled: read again every 2 s until it starts (the stream tells only of running mailings).
  const mailing = useQuery({ queryKey: ['mailing', id], queryFn: () => api<Mailing>('GET', `/v1/mailings/${encodeURIComponent(id)}`), refetchInterval: (q) => (q.state.data?.status === 'scheduled' ? 2_000 : false) });
  const m = mailing.data;
  const live = m?.status === 'running' || m?.status === 'scheduled';
  const { stats, error, streaming } = useMailingProgress(id, live);
  // A run that starts or stops shows in the statistics first: the mailing is read again.
  useEffect(() => {
    if (!m || !stats || stats.status === m.status) return;
    void client.invalidateQueries({ queryKey: ['mailing', id] });
    // The mailing stopped running and the figures still say it runs: the last ones are fetched.
    if (stats.status === 'running' && m.status !== 'scheduled') void client.invalidateQueries({ queryKey: ['mailing-stats', id] });
  }, [client, id, m, stats]);
  const act = useMutation({
    mutationFn: (verb: Verb) => api<Mailing>('POST', `/v1/mailings/${encodeURIComponent(id)}/${verb}`),
    onSuccess: (next) => {
      client.setQueryData(['mailing', id], next);
      void client.invalidateQueries({ queryKey: ['mailing-stats', id] });
      void client.invalidateQueries({ queryKey: ['mailings'] });
    },
  });
  const failure = mailing.error ?? act.error ?? error;
  // Scheduling needs a start time or a cron schedule (the API answers 409 without), and a mailing is not edited.
  const startable = m ? m.start_at !== null || m.schedule_cron !== null : false;
  return (
    <Stack maw={1100}>
      <Anchor component={Link} to="/mailings" size="sm">
        ← {t('Back')}
      </Anchor>
      <Group justify="space-between">
        <Group>
          <Title order={2}>{m ? m.name : t('Mailing')}</Title>
          {m && <MailingStatusBadge status={m.status} />}
          {m?.paused_reason && (
            <Badge color="orange" variant="outline">
              {t(m.paused_reason === 'error_threshold' ? 'paused: too many errors' : 'paused: the balance does not cover it')}
            </Badge>
          )}
        </Group>
        {m && can.send(session.role) && (
          <Group gap="xs">
            {(Object.keys(VERBS) as Verb[])
              .filter((v) => VERBS[v].from.includes(m.status) && (v !== 'schedule' || startable))
              .map((v) => (
                <Button key={v} size="xs" variant={v === 'cancel' ? 'subtle' : 'light'} color={v === 'cancel' ? 'red' : undefined} loading={act.isPending && act.variables === v} disabled={act.isPending} onClick={() => act.mutate(v)}>
                  {t(v === 'schedule' && m.start_at !== null && Date.parse(m.start_at) > Date.now() ? 'Schedule' : VERBS[v].label)}
                </Button>
              ))}
          </Group>
        )}
      </Group>
      {m && m.status === 'draft' && !startable && (
        <Alert color="yellow" data-testid="mailing-not-startable">
          {t('It has no start time or schedule, so it cannot be started; a mailing is not edited: create another with a start time.')}
        </Alert>
      )}
      {failure ? <Alert color="red">{failure instanceof Error ? failure.message : String(failure)}</Alert> : null}
      {m && (
        <Paper withBorder p="md">
          <SimpleGrid cols={{ base: 1, sm: 3 }}>
            <Text size="sm">
              {t('Channels')}: {m.channels.join(' → ')}
            </Text>
            <Text size="sm">
              {t('Audience')}: {m.list_id ? `${t('contact list')} ${m.list_id}` : m.segment_id ? `${t('segment')} ${m.segment_id}` : t('every contact of the project')}
            </Text>
            <Text size="sm">
              {t('Rate')}: {m.throttle_per_minute === null ? t('as fast as the channel takes') : t('{n} a minute', { n: m.throttle_per_minute })}
            </Text>
            <Text size="sm">
              {t('Created')}: {dateTime(m.created_at)}
            </Text>
            <Text size="sm">
              {t('Started')}: {dateTime(m.started_at)}
            </Text>
            <Text size="sm">
              {t('Finished')}: {dateTime(m.finished_at)}
            </Text>
            {m.next_run_at && (
              <Text size="sm">
                {t('Next run')}: {dateTime(m.next_run_at)}
              </Text>
            )}
          </SimpleGrid>
          {m.cancelling && (
            <Text size="sm" c="dimmed" mt="xs">
              {t('Its messages not yet sent are being cancelled.')}
            </Text>
          )}
        </Paper>
      )}
      {stats && stats.run_number > 0 && <RunPanel stats={stats} streaming={streaming} live={live} />}
      {stats && stats.run_number === 0 && <Text c="dimmed">{t('Not started yet: the figures show once its first run starts.')}</Text>}
    </Stack>
  );
}
