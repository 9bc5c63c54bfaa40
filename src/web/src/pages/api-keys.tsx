import { Alert, Badge, Button, Code, CopyButton, Group, Modal, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useForm } from '@mantine/form';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, ApiError, can, type ApiKey, type Page } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { useSession } from '../session.tsx';

export function ApiKeysPage() {
  const { t, dateTime } = useI18n();
  const session = useSession();
  const client = useQueryClient();
  const keys = useQuery({ queryKey: ['api-keys'], queryFn: () => api<Page<ApiKey>>('GET', '/v1/api-keys?limit=200') });
  const form = useForm({ initialValues: { name: '' }, validate: { name: (v) => (v.trim() ? null : t('Name')) } });
  const [created, setCreated] = useState<ApiKey | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const create = useMutation({
    mutationFn: (name: string) => api<ApiKey>('POST', '/v1/api-keys', { name }),
    onSuccess: (key) => {
      setCreated(key);
      form.reset();
      void client.invalidateQueries({ queryKey: ['api-keys'] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => api('DELETE', `/v1/api-keys/${id}`),
    onSuccess: () => {
      setRevoking(null);
      notifications.show({ color: 'green', message: t('Key revoked') });
      void client.invalidateQueries({ queryKey: ['api-keys'] });
    },
  });
  const allowed = can.manageKeys(session.role);
  return (
    <Stack>
      <Title order={2}>{t('API keys')}</Title>
      {allowed && (
        <form onSubmit={form.onSubmit((v) => create.mutate(v.name.trim()))}>
          <Group align="end">
            <TextInput label={t('Name')} placeholder="CRM" {...form.getInputProps('name')} name="key-name" />
            <Button type="submit" loading={create.isPending}>
              {t('Create key')}
            </Button>
          </Group>
        </form>
      )}
      {(create.error ?? revoke.error) && <Alert color="red">{((create.error ?? revoke.error) as ApiError).message}</Alert>}
      <Table striped withTableBorder data-testid="api-keys-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t('Name')}</Table.Th>
            <Table.Th>{t('Prefix')}</Table.Th>
            <Table.Th>{t('Role')}</Table.Th>
            <Table.Th>{t('Created')}</Table.Th>
            <Table.Th>{t('Status')}</Table.Th>
            <Table.Th />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(keys.data?.data ?? []).map((k) => (
            <Table.Tr key={k.id} data-key-id={k.id}>
              <Table.Td>{k.name}</Table.Td>
              <Table.Td>
                <Code>{k.prefix}…</Code>
              </Table.Td>
              <Table.Td>{k.role}</Table.Td>
              <Table.Td>{dateTime(k.created_at)}</Table.Td>
              <Table.Td>{k.revoked_at ? <Badge color="gray">{t('Revoked')}</Badge> : <Badge color="green">{t('Active')}</Badge>}</Table.Td>
              <Table.Td>
                {allowed && !k.revoked_at && (
                  <Button size="xs" color="red" variant="light" onClick={() => setRevoking(k)}>
                    {t('Revoke')}
                  </Button>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {keys.data && keys.data.data.length === 0 && <Text c="dimmed">{t('No API keys yet.')}</Text>}

      <Modal opened={created !== null} onClose={() => setCreated(null)} title={t('Your new API key')}>
        <Stack>
          <Text size="sm">{t('Copy it now: it is shown only once.')}</Text>
          <Code block data-testid="new-key">
            {created?.key}
          </Code>
          <Group justify="flex-end">
            <CopyButton value={created?.key ?? ''}>{({ copied, copy }) => <Button variant="light" onClick={copy}>{copied ? t('Copied') : t('Copy')}</Button>}</CopyButton>
            <Button onClick={() => setCreated(null)}>{t('Done')}</Button>
          </Group>
        </Stack>
      </Modal>
      <Modal opened={revoking !== null} onClose={() => setRevoking(null)} title={t('Revoke key {name}?', { name: revoking?.name ?? '' })}>
        <Stack>
          <Text size="sm">{t('Programs using it will get 401 from now on.')}</Text>
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setRevoking(null)}>
              {t('Cancel')}
            </Button>
            <Button color="red" loading={revoke.isPending} onClick={() => revoking && revoke.mutate(revoking.id)}>
              {t('Revoke')}
            </Button>
          </Group>
        </Stack>
      </Modal>
    </Stack>
  );
}
