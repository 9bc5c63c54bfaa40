import { Alert, Button, Center, Group, Paper, PasswordInput, Stack, TextInput, Title } from '@mantine/core';
import { useForm } from '@mantine/form';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api, ApiError, setCsrfToken, type Session } from '../api.ts';
import { LanguageSwitch } from '../app.tsx';
import { useI18n } from '../i18n.tsx';

export function SignInPage() {
  const { t } = useI18n();
  const client = useQueryClient();
  const form = useForm({ initialValues: { email: '', password: '' } });
  const signIn = useMutation({
    mutationFn: (values: { email: string; password: string }) => api<Session>('POST', '/v1/sessions', values),
    onSuccess: (session) => {
      setCsrfToken(session.csrf_token);
      client.setQueryData(['session'], session);
    },
  });
  return (
    <Center h="100vh">
      <Paper withBorder shadow="sm" p="xl" w={380}>
        <form onSubmit={form.onSubmit((values) => signIn.mutate(values))}>
          <Stack>
            <Group justify="space-between">
              <Title order={3}>{t('Sign in to Depesha')}</Title>
              <LanguageSwitch />
            </Group>
            {signIn.error && (
              <Alert color="red" role="alert">
                {signIn.error instanceof ApiError ? signIn.error.message : t('Something went wrong')}
              </Alert>
            )}
            <TextInput label={t('Email')} type="email" autoComplete="username" required data-autofocus {...form.getInputProps('email')} />
            <PasswordInput label={t('Password')} autoComplete="current-password" required {...form.getInputProps('password')} />
            <Button type="submit" loading={signIn.isPending}>
              {t('Sign in')}
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
