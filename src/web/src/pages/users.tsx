import { Alert, Badge, Button, Code, Group, Modal, Select, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useForm } from '@mantine/form';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, type Page, type Role } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { useSession } from '../session.tsx';

interface User {
  id: string;
  email: string;
  role: Role;
  locked_until: string | null;
  disabled: boolean;
  created_at: string;
  temporary_password?: string;
}

const ACCOUNT_ROLES: Role[] = ['owner', 'manager', 'viewer'];

/** The account's users: an owner (or the platform) invites them, sets roles, resets passwords, disables them. */
export function UsersPage() {
  const { t, dateTime } = useI18n();
  const session = useSession();
  const client = useQueryClient();
  const users = useQuery({ queryKey: ['users'], queryFn: () => api<Page<User>>('GET', '/v1/users?limit=200') });
  const form = useForm({ initialValues: { email: '', role: 'viewer' as string | null } });
  const [password, setPassword] = useState<User | null>(null);
  const done = () => void client.invalidateQueries({ queryKey: ['users'] });
  const invite = useMutation({
    mutationFn: (v: { email: string; role: string | null }) => api<User>('POST', '/v1/users', { email: v.email.trim(), role: v.role }),
    onSuccess: (u) => {
      setPassword(u);
      form.reset();
      done();
    },
  });
  const update = useMutation({ mutationFn: (v: { id: string; role?: string; disabled?: boolean }) => api<User>('PATCH', `/v1/users/${v.id}`, { ...(v.role ? { role: v.role } : {}), ...(v.disabled === undefined ? {} : { disabled: v.disabled }) }), onSuccess: done });
  const reset = useMutation({ mutationFn: (id: string) => api<User>('POST', `/v1/users/${id}/reset-password`), onSuccess: (u) => (setPassword(u), done()) });
  const manages = session.role === 'owner' || session.role === 'administrator' || session.role === 'staff';
  const error = invite.error ?? update.error ?? reset.error ?? users.error;
  const roles = ACCOUNT_ROLES.map((r) => ({ value: r, label: t(r) }));
  return (
    <Stack>
      <Title order={2}>{t('Users')}</Title>
      {manages && (
        <form onSubmit={form.onSubmit((v) => invite.mutate(v))}>
          <Group align="end">
            <TextInput label={t('Email')} type="email" required w={280} {...form.getInputProps('email')} name="invite-email" />
            <Select label={t('Role')} data={roles} allowDeselect={false} w={180} {...form.getInputProps('role')} />
            <Button type="submit" loading={invite.isPending}>
              {t('Invite')}
            </Button>
          </Group>
        </form>
      )}
      {error && <Alert color="red">{(error as Error).message}</Alert>}
      <Table striped withTableBorder data-testid="users-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t('Email')}</Table.Th>
            <Table.Th>{t('Role')}</Table.Th>
            <Table.Th>{t('Status')}</Table.Th>
            <Table.Th>{t('Created')}</Table.Th>
            <Table.Th />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(users.data?.data ?? []).map((u) => {
            const self = u.id === session.user?.id;
            return (
              <Table.Tr key={u.id}>
                <Table.Td>{u.email}</Table.Td>
                <Table.Td>
                  {manages && !self ? (
                    <Select size="xs" w={160} data={roles} value={u.role} allowDeselect={false} aria-label={`${t('Role')}: ${u.email}`} onChange={(role) => role && update.mutate({ id: u.id, role })} />
                  ) : (
                    t(u.role)
                  )}
                </Table.Td>
                <Table.Td>
                  {u.disabled ? <Badge color="gray">{t('Disabled')}</Badge> : u.locked_until ? <Badge color="orange">{t('Locked')}</Badge> : <Badge color="green">{t('Active')}</Badge>}
                </Table.Td>
                <Table.Td>{dateTime(u.created_at)}</Table.Td>
                <Table.Td>
                  {manages && !self && (
                    <Group gap="xs">
                      <Button size="xs" variant="light" onClick={() => reset.mutate(u.id)}>
                        {t('Reset password')}
                      </Button>
                      <Button size="xs" variant="subtle" color={u.disabled ? 'green' : 'red'} onClick={() => update.mutate({ id: u.id, disabled: !u.disabled })}>
                        {u.disabled ? t('Enable') : t('Disable')}
                      </Button>
                    </Group>
                  )}
                </Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
      {users.data && users.data.data.length === 0 && <Text c="dimmed">{t('No users yet.')}</Text>}
      <Modal opened={password !== null} onClose={() => setPassword(null)} title={t('Temporary password for {email}', { email: password?.email ?? '' })}>
        <Stack>
          <Text size="sm">{t('Hand it over: it is shown only once. The user changes it after signing in.')}</Text>
          <Code block data-testid="temporary-password">
            {password?.temporary_password}
          </Code>
          <Button onClick={() => setPassword(null)}>{t('Done')}</Button>
        </Stack>
      </Modal>
    </Stack>
  );
}
