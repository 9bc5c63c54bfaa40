import { Alert, Badge, Code, Stack, Switch, Table, Text, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api.ts';
import { useI18n } from '../i18n.tsx';

/** A platform module as GET /v1/modules lists it (docs/modules.md). */
interface Module {
  name: string;
  kind: 'channel' | 'integration';
  enabled: boolean;
  description: string;
  updated_at: string | null;
}

/**
 * The platform's modules (C2): every channel and integration with a switch.
 * Shown on the Connectors and routes page, to platform administrators and staff only.
 */
export function ModulesSection() {
  const { t, dateTime } = useI18n();
  const client = useQueryClient();
  const modules = useQuery({ queryKey: ['modules'], queryFn: () => api<{ data: Module[] }>('GET', '/v1/modules') });
  const toggle = useMutation({
    mutationFn: (m: { name: string; enabled: boolean }) => api<Module>('PATCH', `/v1/modules/${encodeURIComponent(m.name)}`, { enabled: m.enabled }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ['modules'] }),
  });
  // What a switched-off module refuses, in the cabinet's language (the API's `description` is in English).
  const what: Record<string, string> = {
    sms: t('SMS messages'),
    telegram: t('Telegram messages'),
    whatsapp: t('WhatsApp messages'),
    viber: t('Viber messages'),
    email: t('E-mail messages'),
    voice: t('Voice calls'),
    compat_api_v1: t('The compatibility API of seed 001 (/api/v1)'),
    compat_crm: t('The compatibility API of seed 004 (/project, /client, /mailing)'),
    smpp_server: t('The SMPP server for customers: new binds are refused, open ones stay'),
    verifications: t('Verification codes (/v1/verifications)'),
    mailings: t('Mailings: running ones hold until switched on again'),
  };
  const error = toggle.error ?? modules.error;
  return (
    <Stack gap="xs">
      <Title order={4}>{t('Modules')}</Title>
      <Text size="sm" c="dimmed">
        {t('A channel switched off refuses new messages on it (channel_disabled); an integration switched off stops answering. Messages accepted before still go. Other nodes follow within 2 seconds.')}
      </Text>
      {error && <Alert color="red">{(error as Error).message}</Alert>}
      <Table striped withTableBorder data-testid="modules-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t('Module')}</Table.Th>
            <Table.Th>{t('Kind')}</Table.Th>
            <Table.Th>{t('What it serves')}</Table.Th>
            <Table.Th>{t('Last switched')}</Table.Th>
            <Table.Th>{t('Enabled')}</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(modules.data?.data ?? []).map((m) => (
            <Table.Tr key={m.name} data-module={m.name}>
              <Table.Td>
                <Code>{m.name}</Code>
              </Table.Td>
              <Table.Td>
                <Badge variant="light" color={m.kind === 'channel' ? 'blue' : 'grape'}>
                  {m.kind === 'channel' ? t('channel') : t('integration')}
                </Badge>
              </Table.Td>
              <Table.Td title={m.description}>{what[m.name] ?? m.description}</Table.Td>
              <Table.Td>{m.updated_at ? dateTime(m.updated_at) : t('never')}</Table.Td>
              <Table.Td>
                <Switch checked={m.enabled} aria-label={`${t('Enabled')}: ${m.name}`} disabled={toggle.isPending} onChange={(e) => toggle.mutate({ name: m.name, enabled: e.currentTarget.checked })} />
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}
