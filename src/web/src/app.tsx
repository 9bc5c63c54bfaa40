import { AppShell, Badge, Burger, Center, Group, Loader, NavLink, SegmentedControl, Text, Title, Button } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { Link, Navigate, Route, Routes, useLocation } from 'react-router';
import { api, ApiError, can, setCsrfToken, type Session } from './api.ts';
import { useI18n, type Lang } from './i18n.tsx';
import { useLiveEvents } from './live.ts';
import { ApiKeysPage } from './pages/api-keys.tsx';
import { AuditPage } from './pages/audit.tsx';
import { ConnectorsPage } from './pages/connectors.tsx';
import { DashboardPage } from './pages/dashboard.tsx';
import { ExportsPage } from './pages/exports.tsx';
import { HistoryPage } from './pages/history.tsx';
import { MailingPage, MailingsPage } from './pages/mailings.tsx';
import { MessagePage } from './pages/message.tsx';
import { ReportsPage } from './pages/reports.tsx';
import { SendPage } from './pages/send.tsx';
import { SenderNamesPage, SmppPage } from './pages/senders.tsx';
import { SettingsPage } from './pages/settings.tsx';
import { SignInPage } from './pages/sign-in.tsx';
import { UsersPage } from './pages/users.tsx';
import { WebhooksPage } from './pages/webhooks.tsx';
import { PasswordModal } from './password.tsx';
import { SessionContext } from './session.tsx';

/** RU/EN; signed in, the choice is also kept on the user (PATCH /v1/session), for every browser of theirs. */
export function LanguageSwitch({ signedIn = false }: { signedIn?: boolean }) {
  const { lang, setLang } = useI18n();
  const client = useQueryClient();
  const keep = useMutation({
    mutationFn: (language: Lang) => api<Session>('PATCH', '/v1/session', { user: { language } }),
    onSuccess: (session) => client.setQueryData(['session'], session),
  });
  return (
    <SegmentedControl
      size="xs"
      value={lang}
      onChange={(v) => {
        setLang(v as Lang);
        if (signedIn) keep.mutate(v as Lang);
      }}
      data={[
        { value: 'ru', label: 'RU' },
        { value: 'en', label: 'EN' },
      ]}
      aria-label="Language / Язык"
    />
  );
}

export function App() {
  const session = useQuery({ queryKey: ['session'], queryFn: () => api<Session>('GET', '/v1/session') });
  const { lang, setLang, setTimeZone } = useI18n();
  useEffect(() => setCsrfToken(session.data?.csrf_token ?? null), [session.data]);
  // Dates are shown in the user's own time zone (Settings), else the account's, the one its quiet hours and reports speak.
  useEffect(() => setTimeZone(session.data?.user?.time_zone ?? session.data?.account.time_zone ?? null), [session.data, setTimeZone]);
  // The language the user chose follows them to every browser.
  const userLang = session.data?.user?.language ?? null;
  useEffect(() => {
    if (userLang && userLang !== lang) setLang(userLang);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [userLang]);
  if (session.isPending) {
    return (
      <Center h="100vh">
        <Loader />
      </Center>
    );
  }
  if (session.error instanceof ApiError && session.error.status === 401) return <SignInPage />;
  if (!session.data) return <SignInPage />;
  setCsrfToken(session.data.csrf_token);
  return (
    <SessionContext.Provider value={session.data}>
      <Shell session={session.data} />
    </SessionContext.Provider>
  );
}

function Shell({ session }: { session: Session }) {
  const { t } = useI18n();
  const [opened, { toggle }] = useDisclosure();
  const [passwordOpened, password] = useDisclosure();
  const location = useLocation();
  const client = useQueryClient();
  useLiveEvents();
  const signOut = useMutation({
    mutationFn: () => api('DELETE', '/v1/session'),
    onSettled: () => {
      setCsrfToken(null);
      client.clear();
      void client.invalidateQueries({ queryKey: ['session'] });
    },
  });
  const nav = [
    { to: '/', label: t('Dashboard') },
    { to: '/send', label: t('Send') },
    { to: '/history', label: t('History') },
    { to: '/mailings', label: t('Mailings') },
    { to: '/reports', label: t('Reports') },
    { to: '/exports', label: t('Exports') },
    { to: '/api-keys', label: t('API keys') },
    { to: '/webhooks', label: t('Webhooks') },
    { to: '/sender-names', label: t('Sender names') },
    { to: '/smpp', label: t('SMPP credentials') },
    ...(can.seeConnectors(session.role) ? [{ to: '/connectors', label: t('Connectors and routes') }] : []),
    ...(session.role !== 'viewer' ? [{ to: '/users', label: t('Users') }] : []),
    ...(can.readAudit(session.role) ? [{ to: '/audit', label: t('Audit log') }] : []),
    { to: '/settings', label: t('Settings') },
  ];
  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !opened } }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Group>
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" />
            <Title order={4}>Depesha</Title>
            <Text c="dimmed" size="sm">
              {session.account.name}
            </Text>
          </Group>
          <Group>
            <LanguageSwitch signedIn={session.user !== null} />
            <Text size="sm" data-testid="user-email">
              {session.user?.email}
            </Text>
            <Badge variant="light">{t(session.role)}</Badge>
            {session.user && (
              <Button variant="subtle" size="xs" onClick={password.open}>
                {t('Change password')}
              </Button>
            )}
            <Button variant="subtle" size="xs" onClick={() => signOut.mutate()}>
              {t('Sign out')}
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs">
        {nav.map((item) => (
          <NavLink key={item.to} component={Link} to={item.to} label={item.label} active={item.to === '/' ? location.pathname === '/' : location.pathname.startsWith(item.to)} />
        ))}
      </AppShell.Navbar>
      <PasswordModal opened={passwordOpened} onClose={password.close} />
      <AppShell.Main>
        {session.role === 'viewer' && (
          <Text c="dimmed" size="sm" mb="sm">
            {t('Read only: your role is viewer.')}
          </Text>
        )}
        <Routes>
          <Route path="/" element={<DashboardPage />} />
          <Route path="/send" element={<SendPage />} />
          <Route path="/history" element={<HistoryPage />} />
          <Route path="/messages/:id" element={<MessagePage />} />
          <Route path="/mailings" element={<MailingsPage />} />
          <Route path="/mailings/:id" element={<MailingPage />} />
          <Route path="/api-keys" element={<ApiKeysPage />} />
          <Route path="/webhooks" element={<WebhooksPage />} />
          <Route path="/users" element={<UsersPage />} />
          <Route path="/audit" element={<AuditPage />} />
          <Route path="/reports" element={<ReportsPage />} />
          <Route path="/exports" element={<ExportsPage />} />
          <Route path="/sender-names" element={<SenderNamesPage />} />
          <Route path="/smpp" element={<SmppPage />} />
          <Route path="/connectors" element={<ConnectorsPage />} />
          <Route path="/settings" element={<SettingsPage />} />
          <Route path="*" element={<Navigate to="/" replace />} />
        </Routes>
      </AppShell.Main>
    </AppShell>
  );
}
