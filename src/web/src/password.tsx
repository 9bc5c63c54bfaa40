import { Alert, Button, Modal, PasswordInput, Stack } from '@mantine/core';
import { useForm } from '@mantine/form';
import { notifications } from '@mantine/notifications';
import { useMutation } from '@tanstack/react-query';
import { api } from './api.ts';
import { useI18n } from './i18n.tsx';

/** Changing one's own password (a temporary one first of all); the other sessions end. */
export function PasswordModal({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const form = useForm({
    initialValues: { current_password: '', new_password: '' },
    validate: { new_password: (v) => (v.length >= 10 ? null : t('At least 10 characters')) },
  });
  const change = useMutation({
    mutationFn: (v: { current_password: string; new_password: string }) => api('POST', '/v1/session/password', v),
    onSuccess: () => {
      notifications.show({ color: 'green', message: t('Password changed') });
      form.reset();
      onClose();
    },
  });
  return (
    <Modal opened={opened} onClose={onClose} title={t('Change password')}>
      <form onSubmit={form.onSubmit((v) => change.mutate(v))}>
        <Stack>
          {change.error && <Alert color="red">{(change.error as Error).message}</Alert>}
          <PasswordInput label={t('Current password')} autoComplete="current-password" required {...form.getInputProps('current_password')} />
          <PasswordInput label={t('New password')} autoComplete="new-password" required {...form.getInputProps('new_password')} />
          <Button type="submit" loading={change.isPending}>
            {t('Change password')}
          </Button>
        </Stack>
      </form>
    </Modal>
  );
}
