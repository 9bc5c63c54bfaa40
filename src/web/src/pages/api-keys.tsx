import { Alert, Badge, Button, Code, CopyButton, Group, Modal, Select, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useForm } from '@mantine/form';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, ApiError, can, type ApiKey, type Page } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { useSession } from '../session.tsx';

/** What the page needs of a project (`GET /v1/projects`). */
interface Project {
  id: string;
  name: string;
  code: string;
}

export function ApiKeysPage() {
  const { t, dateTime } = useI18n();
  const session = useSession();
  const client = useQueryClient();
  const keys = useQuery({ queryKey: ['api-keys'], queryFn: () => api<Page<ApiKey>>('GET', '/v1/api-keys?limit=200') });
  const projects = useQuery({ queryKey: ['projects'], queryFn: () => api<Page<Project>>('GET', '/v1/projects?limit=1000') });
  const projectName = new Map((projects.data?.data ?? []).map((p) => [p.id, `${p.name} (${p.code})`]));
  const form = useForm({ initialValues: { name: '', project_id: '' }, validate: { name: (v) => (v.trim() ? null : t('Name')) } });
  const [created, setCreated] = useState<ApiKey | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const create = useMutation({
    mutationFn: (v: { name: string; project_id: string }) => api<ApiKey>('POST', '/v1/api-keys', { name: v.name, ...(v.project_id ? { project_id: v.project_id } : {}) }),
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
        <form onSubmit={form.onSubmit((v) => create.mutate({ name: v.name.trim(), project_id: v.project_id }))}>
          <Group align="end">
            <TextInput label={t('Name')} placeholder="CRM" {...form.getInputProps('name')} name="key-name" />
            {(projects.data?.data.length ?? 0) > 0 && (
              <Select
                label={t('Project')}
                description={t('A key of a project sends its messages in that project only')}
                data={[{ value: '', label: t('Any project') }, ...(projects.data?.data ?? []).map((p) => ({ value: p.id, label: `${p.name} (${p.code})` }))]}
                allowDeselect={false}
                w={240}
                name="key-project"
                {...form.getInputProps('project_id')}
              />
            )}
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
            <Table.Th>{t('Project')}</Table.Th>
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
              <Table.Td>{k.project_id === null ? <Text c="dimmed" size="sm">{t('Any project')}</Text> : (projectName.get(k.project_id) ?? k.project_id)}</Table.Td>
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
