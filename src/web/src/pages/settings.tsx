import { Alert, Button, Group, Select, Stack, Switch, Text, TextInput, Title } from '@mantine/core';
import { useForm } from '@mantine/form';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { api, ApiError, type Account, type Session } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { useSession } from '../session.tsx';

const ZONES = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : ['UTC', 'Europe/Moscow'];
/** The browser's zones, and the one chosen when the browser names it otherwise (Chromium lists Asia/Calcutta, not Asia/Kolkata). */
const zonesWith = (current: string | null) => (current === null || ZONES.includes(current) ? ZONES : [current, ...ZONES]);

interface Values {
  time_zone: string;
  default_region: string;
  quiet: boolean;
  quiet_start: string;
  quiet_end: string;
}

/** The user's own time zone: dates in the cabinet are shown in it; cleared, in the account's. */
function MyTimeZone() {
  const { t } = useI18n();
  const session = useSession();
  const client = useQueryClient();
  const save = useMutation({
    mutationFn: (zone: string | null) => api<Session>('PATCH', '/v1/session', { user: { time_zone: zone } }),
    onSuccess: (next) => {
      client.setQueryData(['session'], next);
      notifications.show({ color: 'green', message: t('Your time zone is saved') });
    },
  });
  if (!session.user) return null;
  return (
    <Stack gap="xs">
      <Title order={4}>{t('For you')}</Title>
      <Select
        label={t('Your time zone')}
        description={t('Dates in the cabinet are shown in it; empty: in the account\'s ({zone})', { zone: session.account.time_zone })}
        placeholder={t('As the account: {zone}', { zone: session.account.time_zone })}
        data={zonesWith(session.user.time_zone)}
        searchable
        allowDeselect={false}
        value={session.user.time_zone}
        onChange={(zone) => save.mutate(zone)}
        disabled={save.isPending}
        name="user-time-zone"
      />
      {session.user.time_zone !== null && (
        <Group>
          <Button variant="default" size="xs" onClick={() => save.mutate(null)} loading={save.isPending}>
            {t('Use the account\'s time zone')}
          </Button>
        </Group>
      )}
      {save.error && <Alert color="red">{(save.error as ApiError).message}</Alert>}
    </Stack>
  );
}

/** The account's settings: time zone (dates, quiet hours, "today"), default region of numbers, quiet hours for advertising. */
export function SettingsPage() {
  const { t } = useI18n();
  const session = useSession();
  const client = useQueryClient();
  const account = useQuery({ queryKey: ['account'], queryFn: () => api<Account>('GET', '/v1/account') });
  const form = useForm<Values>({
    initialValues: { time_zone: 'UTC', default_region: '', quiet: false, quiet_start: '21:00', quiet_end: '09:00' },
    validate: { default_region: (v) => (/^[A-Z]{2}$/.test(v) ? null : t('Two capital letters, e.g. RU')) },
  });
  const a = account.data;
  useEffect(() => {
    if (!a) return;
    form.setValues({ time_zone: a.time_zone, default_region: a.default_region, quiet: a.quiet_hours !== null, quiet_start: a.quiet_hours?.start ?? '21:00', quiet_end: a.quiet_hours?.end ?? '09:00' });
    form.resetDirty();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [a]);
  const save = useMutation({
    mutationFn: (v: Values) => api<Account>('PATCH', '/v1/account', { time_zone: v.time_zone, default_region: v.default_region, quiet_hours: v.quiet ? { start: v.quiet_start, end: v.quiet_end } : null }),
    onSuccess: () => {
      notifications.show({ color: 'green', message: t('Settings saved') });
      void client.invalidateQueries({ queryKey: ['account'] });
      void client.invalidateQueries({ queryKey: ['session'] });
    },
  });
  const allowed = session.role === 'owner' || session.role === 'administrator' || session.role === 'staff';
  return (
    <Stack maw={560}>
      <Title order={2}>{t('Settings')}</Title>
      <MyTimeZone />
      <Title order={4}>{t('For the account')}</Title>
      {!allowed && <Alert color="gray">{t('Only an owner changes the account settings.')}</Alert>}
      {account.error && <Alert color="red">{(account.error as Error).message}</Alert>}
      <form onSubmit={form.onSubmit((v) => save.mutate(v))}>
        <Stack>
          <Select label={t('Time zone')} description={t('Dates in reports, in the cabinet for users who chose no zone of their own, and quiet hours when the recipient\'s zone is unknown')} data={zonesWith(form.values.time_zone)} searchable disabled={!allowed} {...form.getInputProps('time_zone')} />
          <TextInput label={t('Default region')} description={t('For numbers written without a country code (ISO 3166, e.g. RU)')} maxLength={2} disabled={!allowed} {...form.getInputProps('default_region')} name="default-region" />
          <Switch label={t('Quiet hours for advertising')} disabled={!allowed} {...form.getInputProps('quiet', { type: 'checkbox' })} />
          {form.values.quiet && (
            <Group>
              <TextInput type="time" label={t('From')} disabled={!allowed} {...form.getInputProps('quiet_start')} name="quiet-start" />
              <TextInput type="time" label={t('Until')} disabled={!allowed} {...form.getInputProps('quiet_end')} name="quiet-end" />
            </Group>
          )}
          <Text size="xs" c="dimmed">
            {t('Advertising is held through quiet hours in the recipient\'s time zone.')}
          </Text>
          {save.error && <Alert color="red">{(save.error as ApiError).message}</Alert>}
          <Group>
            <Button type="submit" loading={save.isPending} disabled={!allowed}>
              {t('Save')}
            </Button>
          </Group>
        </Stack>
      </form>
    </Stack>
  );
}
