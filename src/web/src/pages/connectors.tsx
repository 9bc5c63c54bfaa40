import { Alert, Badge, Button, Code, Group, Modal, NumberInput, Paper, PasswordInput, Select, Stack, Switch, Table, TagsInput, Text, TextInput, Title } from '@mantine/core';
import { useForm } from '@mantine/form';
import { useDisclosure } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, ApiError, can, type ConnectorState, type Route, type RouteTest } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { useSession } from '../session.tsx';
import { ConnectorTable } from './dashboard.tsx';

interface ManifestField {
  name: string;
  label: string;
  type: 'string' | 'integer' | 'boolean' | 'secret' | 'enum';
  required: boolean;
  default?: string | number | boolean;
  options?: string[];
  description: string;
  in: 'definition' | 'secrets';
}
interface ConnectorType {
  type: string;
  name: string;
  channels: string[];
  fields: ManifestField[];
}

/** The Add connector form, built from the chosen type's manifest (GET /v1/connector-types). */
function AddConnector({ types, onDone }: { types: ConnectorType[]; onDone(): void }) {
  const { t } = useI18n();
  const [type, setType] = useState<string | null>(types[0]?.type ?? null);
  const [values, setValues] = useState<Record<string, string | number | boolean>>({});
  const [id, setId] = useState('');
  const manifest = types.find((m) => m.type === type);
  const create = useMutation({
    mutationFn: () => {
      const definition: Record<string, unknown> = { id, type };
      const secrets: Record<string, unknown> = {};
      for (const f of manifest?.fields ?? []) {
        const v = values[f.name];
        if (v === undefined || v === '') continue;
        (f.in === 'secrets' ? secrets : definition)[f.name] = v;
      }
      if (Object.keys(secrets).length > 0) definition.secrets = secrets;
      return api<ConnectorState>('POST', '/v1/connectors', definition);
    },
    onSuccess: (c) => {
      notifications.show({ color: 'green', message: t('Connector {id} added', { id: c.id }) });
      onDone();
    },
  });
  const set = (name: string, v: string | number | boolean) => setValues((prev) => ({ ...prev, [name]: v }));
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        create.mutate();
      }}
    >
      <Stack>
        <Select
          label={t('Type')}
          data={types.map((m) => ({ value: m.type, label: m.name }))}
          value={type}
          onChange={(v) => {
            setType(v);
            setValues({});
          }}
          allowDeselect={false}
        />
        <TextInput label={t('Id')} description={t('lower-case letters, digits, "_" and "-"')} required value={id} onChange={(e) => setId(e.currentTarget.value)} />
        {manifest?.fields.map((f) => {
          const common = { label: f.label, description: f.description, required: f.required };
          if (f.type === 'boolean') return <Switch key={f.name} {...common} checked={Boolean(values[f.name] ?? f.default ?? false)} onChange={(e) => set(f.name, e.currentTarget.checked)} />;
          if (f.type === 'integer') return <NumberInput key={f.name} {...common} placeholder={f.default === undefined ? undefined : String(f.default)} allowDecimal={false} value={(values[f.name] as number | undefined) ?? ''} onChange={(v) => set(f.name, typeof v === 'number' ? v : '')} />;
          if (f.type === 'enum') return <Select key={f.name} {...common} data={f.options ?? []} placeholder={f.default === undefined ? undefined : String(f.default)} value={(values[f.name] as string | undefined) ?? null} onChange={(v) => set(f.name, v ?? '')} clearable />;
          if (f.type === 'secret') return <PasswordInput key={f.name} {...common} value={(values[f.name] as string | undefined) ?? ''} onChange={(e) => set(f.name, e.currentTarget.value)} />;
          return <TextInput key={f.name} {...common} placeholder={f.default === undefined ? undefined : String(f.default)} value={(values[f.name] as string | undefined) ?? ''} onChange={(e) => set(f.name, e.currentTarget.value)} />;
        })}
        {create.error && <Alert color="red">{(create.error as ApiError).message}</Alert>}
        <Button type="submit" loading={create.isPending}>
          {t('Add connector')}
        </Button>
      </Stack>
    </form>
  );
}

function DryRun() {
  const { t } = useI18n();
  const form = useForm({ initialValues: { to: '' } });
  const run = useMutation({ mutationFn: (to: string) => api<RouteTest>('POST', '/v1/routes/test', { to }) });
  return (
    <Paper withBorder p="md">
      <Title order={4} mb="xs">
        {t('Route dry run')}
      </Title>
      <form onSubmit={form.onSubmit((v) => run.mutate(v.to))}>
        <Group align="end">
          <TextInput label={t('Number to try')} placeholder="+7 916 123-45-67" required {...form.getInputProps('to')} name="dry-run-to" />
          <Button type="submit" variant="light" loading={run.isPending}>
            {t('Try')}
          </Button>
        </Group>
      </form>
      {run.error && (
        <Alert color="red" mt="sm">
          {(run.error as ApiError).message}
        </Alert>
      )}
      {run.data && (
        <Stack gap={4} mt="sm" data-testid="dry-run-result">
          <Text size="sm">{run.data.explanation}</Text>
          <Text size="sm">
            {t('Operator')}: {run.data.operator ?? '—'} · {t('Route')}: {run.data.route ?? '—'} · {t('Connector')}: <b data-testid="dry-run-connector">{run.data.connector ?? '—'}</b>
          </Text>
          <Group gap="xs">
            {run.data.candidates.map((c) => (
              <Badge key={c.id} color={c.in_rotation ? 'green' : 'gray'} variant="light">
                {c.id}: {c.in_rotation ? t('in rotation') : `${c.enabled ? c.status : t('off')}`}
              </Badge>
            ))}
          </Group>
        </Stack>
      )}
    </Paper>
  );
}

/** Connectors and routes of the whole gateway: platform administrators and staff. */
export function ConnectorsPage() {
  const { t } = useI18n();
  const session = useSession();
  const client = useQueryClient();
  const allowed = can.seeConnectors(session.role);
  const connectors = useQuery({ queryKey: ['connectors'], queryFn: () => api<{ data: ConnectorState[] }>('GET', '/v1/connectors'), enabled: allowed, refetchInterval: 5_000 });
  const routes = useQuery({ queryKey: ['routes'], queryFn: () => api<{ data: Route[] }>('GET', '/v1/routes'), enabled: allowed });
  const types = useQuery({ queryKey: ['connector-types'], queryFn: () => api<{ data: ConnectorType[] }>('GET', '/v1/connector-types'), enabled: allowed });
  const [adding, add] = useDisclosure();
  const toggle = useMutation({
    mutationFn: (c: { id: string; enabled: boolean }) => api<ConnectorState>('PATCH', `/v1/connectors/${encodeURIComponent(c.id)}`, { enabled: c.enabled }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ['connectors'] }),
  });
  const routeForm = useForm({ initialValues: { failover: [] as string[], prefixes: [] as string[] } });
  const addRoute = useMutation({
    mutationFn: (v: { failover: string[]; prefixes: string[] }) =>
      api<Route>('POST', '/v1/routes', { ...(v.failover.length === 1 ? { connector: v.failover[0] } : { failover: v.failover }), ...(v.prefixes.length ? { prefixes: v.prefixes } : {}) }),
    onSuccess: () => {
      routeForm.reset();
      void client.invalidateQueries({ queryKey: ['routes'] });
    },
  });
  const removeRoute = useMutation({ mutationFn: (id: string) => api('DELETE', `/v1/routes/${id}`), onSuccess: () => void client.invalidateQueries({ queryKey: ['routes'] }) });
  if (!allowed) {
    return (
      <Stack>
        <Title order={2}>{t('Connectors and routes')}</Title>
        <Text c="dimmed">{t('Connectors and routes are shared by the whole gateway: platform administrators and staff manage them.')}</Text>
      </Stack>
    );
  }
  const ids = (connectors.data?.data ?? []).map((c) => c.id);
  const error = toggle.error ?? addRoute.error ?? removeRoute.error ?? connectors.error ?? routes.error;
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>{t('Connectors and routes')}</Title>
        <Button onClick={add.open} disabled={!types.data}>
          {t('Add connector')}
        </Button>
      </Group>
      {error && <Alert color="red">{(error as Error).message}</Alert>}
      <Text size="sm" c="dimmed">
        {t("A connector switched off takes no traffic: its routes send to their next connector.")}
      </Text>
      <ConnectorTable connectors={connectors.data?.data ?? []} onToggle={(id, enabled) => toggle.mutate({ id, enabled })} busy={toggle.isPending} />
      <Title order={4}>{t('Routes')}</Title>
      <Table striped withTableBorder data-testid="routes-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t('Id')}</Table.Th>
            <Table.Th>{t('Connectors, in order')}</Table.Th>
            <Table.Th>{t('Channel')}</Table.Th>
            <Table.Th>{t('Prefixes')}</Table.Th>
            <Table.Th>{t('Accounts')}</Table.Th>
            <Table.Th />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(routes.data?.data ?? []).map((r) => (
            <Table.Tr key={r.id}>
              <Table.Td>
                <Code>{r.id}</Code>
              </Table.Td>
              <Table.Td>{r.split ? r.split.map((s) => `${s.connector} ×${s.weight}`).join(', ') : r.connectors.join(' → ')}</Table.Td>
              <Table.Td>{r.channel}</Table.Td>
              <Table.Td>{r.prefixes.join(', ') || t('every number')}</Table.Td>
              <Table.Td>{r.accounts.length || t('all')}</Table.Td>
              <Table.Td>
                {r.source === 'api' ? (
                  <Button size="xs" variant="subtle" color="red" onClick={() => removeRoute.mutate(r.id)}>
                    {t('Remove')}
                  </Button>
                ) : (
                  <Text size="xs" c="dimmed">
                    {t('config file')}
                  </Text>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {routes.data && routes.data.data.length === 0 && <Text c="dimmed">{t('No routes: every message goes to the sandbox. Add one below.')}</Text>}
      <form onSubmit={routeForm.onSubmit((v) => addRoute.mutate(v))}>
        <Group align="end">
          <TagsInput label={t('Connectors, in failover order')} data={ids} w={360} {...routeForm.getInputProps('failover')} />
          <TagsInput label={t('Prefixes')} placeholder="7916" w={240} {...routeForm.getInputProps('prefixes')} />
          <Button type="submit" variant="light" loading={addRoute.isPending} disabled={routeForm.values.failover.length === 0}>
            {t('Add route')}
          </Button>
        </Group>
      </form>
      <DryRun />
      <Modal opened={adding} onClose={add.close} title={t('Add connector')} size="lg">
        {types.data && (
          <AddConnector
            types={types.data.data}
            onDone={() => {
              add.close();
              void client.invalidateQueries({ queryKey: ['connectors'] });
            }}
          />
        )}
      </Modal>
    </Stack>
  );
}
