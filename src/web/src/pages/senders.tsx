import { Alert, Badge, Button, Code, Group, Modal, NumberInput, Stack, Table, TagsInput, Text, TextInput, Title } from '@mantine/core';
import { useForm } from '@mantine/form';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, ApiError, type Page, type SenderName, type SmppCredential } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { useSession } from '../session.tsx';

const STATUS_COLORS = { pending: 'yellow', approved: 'green', rejected: 'red' } as const;

/** Sender names and their approval per operator; the platform records operators' answers (PUT …/operators/{op}). */
export function SenderNamesPage() {
  const { t, dateTime } = useI18n();
  const session = useSession();
  const client = useQueryClient();
  const names = useQuery({ queryKey: ['sender-names'], queryFn: () => api<Page<SenderName>>('GET', '/v1/sender-names') });
  const form = useForm({ initialValues: { name: '', operators: [] as string[] } });
  const create = useMutation({
    mutationFn: (v: { name: string; operators: string[] }) => api<SenderName>('POST', '/v1/sender-names', { name: v.name.trim(), ...(v.operators.length ? { operators: v.operators } : {}) }),
    onSuccess: () => {
      form.reset();
      void client.invalidateQueries({ queryKey: ['sender-names'] });
    },
  });
  const remove = useMutation({ mutationFn: (id: string) => api('DELETE', `/v1/sender-names/${id}`), onSuccess: () => void client.invalidateQueries({ queryKey: ['sender-names'] }) });
  const allowed = session.role !== 'viewer';
  return (
    <Stack>
      <Title order={2}>{t('Sender names')}</Title>
      {allowed && (
        <form onSubmit={form.onSubmit((v) => create.mutate(v))}>
          <Group align="end">
            <TextInput label={t('Sender name')} description={t('1–11 Latin letters and digits, or a number')} required maxLength={15} {...form.getInputProps('name')} name="sender-name" />
            <TagsInput label={t('Operators')} description={t('empty: every operator')} placeholder="mts, megafon" w={280} {...form.getInputProps('operators')} />
            <Button type="submit" loading={create.isPending}>
              {t('Register')}
            </Button>
          </Group>
        </form>
      )}
      {(create.error ?? remove.error) && <Alert color="red">{((create.error ?? remove.error) as ApiError).message}</Alert>}
      <Table striped withTableBorder data-testid="sender-names-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t('Sender name')}</Table.Th>
            <Table.Th>{t('Operators')}</Table.Th>
            <Table.Th>{t('Created')}</Table.Th>
            <Table.Th />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(names.data?.data ?? []).map((n) => (
            <Table.Tr key={n.id}>
              <Table.Td>{n.name}</Table.Td>
              <Table.Td>
                <Group gap={4}>
                  {n.operators.map((o) => (
                    <Badge key={o.operator} color={STATUS_COLORS[o.status]} variant="light" title={o.reason ?? undefined}>
                      {o.operator === '*' ? t('every operator') : o.operator}: {t(o.status)}
                    </Badge>
                  ))}
                </Group>
              </Table.Td>
              <Table.Td>{dateTime(n.created_at)}</Table.Td>
              <Table.Td>
                {allowed && (
                  <Button size="xs" variant="subtle" color="red" onClick={() => remove.mutate(n.id)}>
                    {t('Remove')}
                  </Button>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {names.data && names.data.data.length === 0 && <Text c="dimmed">{t('No sender names yet. Register one to send from it.')}</Text>}
    </Stack>
  );
}

/** SMPP logins for the account's own SMPP clients (owners create and revoke). */
export function SmppPage() {
  const { t, dateTime } = useI18n();
  const session = useSession();
  const client = useQueryClient();
  const creds = useQuery({ queryKey: ['smpp-credentials'], queryFn: () => api<Page<SmppCredential>>('GET', '/v1/smpp/credentials') });
  const form = useForm({ initialValues: { system_id: '', password: '', allowed_ips: [] as string[], max_submits_per_second: 100 } });
  const [created, setCreated] = useState<{ system_id: string; password: string } | null>(null);
  const create = useMutation({
    mutationFn: (v: { system_id: string; password: string; allowed_ips: string[]; max_submits_per_second: number }) => api<SmppCredential>('POST', '/v1/smpp/credentials', v),
    onSuccess: (_c, v) => {
      setCreated({ system_id: v.system_id, password: v.password });
      form.reset();
      void client.invalidateQueries({ queryKey: ['smpp-credentials'] });
    },
  });
  const revoke = useMutation({ mutationFn: (id: string) => api('DELETE', `/v1/smpp/credentials/${id}`), onSuccess: () => void client.invalidateQueries({ queryKey: ['smpp-credentials'] }) });
  const allowed = session.role === 'owner' || session.role === 'administrator' || session.role === 'staff';
  return (
    <Stack>
      <Title order={2}>{t('SMPP credentials')}</Title>
      <Text size="sm" c="dimmed">
        {t('Your own SMPP clients bind to the gateway with these logins.')}
      </Text>
      {allowed && (
        <form onSubmit={form.onSubmit((v) => create.mutate(v))}>
          <Group align="end">
            <TextInput label={t('System ID')} required maxLength={15} {...form.getInputProps('system_id')} name="system-id" />
            <TextInput label={t('Password')} description={t('6–8 characters')} required minLength={6} maxLength={8} {...form.getInputProps('password')} name="smpp-password" />
            <TagsInput label={t('Allowed addresses')} description={t('empty: any')} placeholder="203.0.113.0/24" w={240} {...form.getInputProps('allowed_ips')} />
            <NumberInput label={t('Submits per second')} min={1} max={100000} w={160} {...form.getInputProps('max_submits_per_second')} />
            <Button type="submit" loading={create.isPending}>
              {t('Create')}
            </Button>
          </Group>
        </form>
      )}
      {(create.error ?? revoke.error) && <Alert color="red">{((create.error ?? revoke.error) as ApiError).message}</Alert>}
      <Table striped withTableBorder data-testid="smpp-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t('System ID')}</Table.Th>
            <Table.Th>{t('Allowed addresses')}</Table.Th>
            <Table.Th>{t('Binds')}</Table.Th>
            <Table.Th>{t('Submits per second')}</Table.Th>
            <Table.Th>{t('Created')}</Table.Th>
            <Table.Th />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(creds.data?.data ?? []).map((c) => (
            <Table.Tr key={c.id}>
              <Table.Td>{c.system_id}</Table.Td>
              <Table.Td>{c.allowed_ips.join(', ') || t('any')}</Table.Td>
              <Table.Td>{c.max_binds}</Table.Td>
              <Table.Td>{c.max_submits_per_second}</Table.Td>
              <Table.Td>{dateTime(c.created_at)}</Table.Td>
              <Table.Td>
                {allowed && (
                  <Button size="xs" variant="subtle" color="red" onClick={() => revoke.mutate(c.id)}>
                    {t('Revoke')}
                  </Button>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {creds.data && creds.data.data.length === 0 && <Text c="dimmed">{t('No SMPP logins yet.')}</Text>}
      <Modal opened={created !== null} onClose={() => setCreated(null)} title={t('SMPP login created')}>
        <Stack>
          <Text size="sm">{t('The password is stored hashed and is not shown again.')}</Text>
          <Code block>
            system_id: {created?.system_id}
            {'\n'}password: {created?.password}
          </Code>
          <Button onClick={() => setCreated(null)}>{t('Done')}</Button>
        </Stack>
      </Modal>
    </Stack>
  );
}
