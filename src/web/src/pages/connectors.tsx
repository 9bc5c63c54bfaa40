import { Accordion, Alert, Badge, Button, Code, Fieldset, Group, Modal, Paper, PasswordInput, Select, Stack, Switch, Table, TagsInput, Text, TextInput, Title } from '@mantine/core';
import { useForm } from '@mantine/form';
import { useDisclosure } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, ApiError, can, type ConnectorState, type Route, type RouteTest } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { useSession } from '../session.tsx';
import { ObjectFields, pruned, type FieldContext, type JsonObject, type JsonSchema } from '../schema-form.tsx';
import { ConnectorTable } from './dashboard.tsx';
import { ModulesSection } from './modules.tsx';

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
interface Preset {
  id: string;
  name: string;
  base_url: string;
  fields: { name: string; label: string; description: string; secret: boolean }[];
}
interface ConnectorType {
  type: string;
  name: string;
  channels: string[];
  fields: ManifestField[];
  /** the definition's JSON Schema: the form is built from it */
  schema: JsonSchema;
  presets?: Preset[];
}

type Editing = { id: string; type: string; definition: JsonObject; secretsSet: string[] };

/**
 * The Add and Edit connector form, built from the type's manifest and schema
 * (GET /v1/connector-types): the manifest's fields first, with their labels,
 * then every other field of the schema under "More settings" (the HTTP
 * aggregator's nested manifest: send, response, callback, poll, error codes).
 */
function ConnectorForm({ types, editing, onDone }: { types: ConnectorType[]; editing?: Editing; onDone(): void }) {
  const { t } = useI18n();
  const [type, setType] = useState<string | null>(editing?.type ?? types[0]?.type ?? null);
  const [value, setValue] = useState<JsonObject>(() => {
    if (!editing) return {};
    const { id: _id, type: _type, ...rest } = editing.definition;
    return rest;
  });
  const [id, setId] = useState(editing?.id ?? '');
  const manifest = types.find((m) => m.type === type);
  const schema = manifest?.schema ?? {};
  const secretFields = new Set((manifest?.fields ?? []).filter((f) => f.type === 'secret').map((f) => (f.in === 'secrets' ? `secrets.${f.name}` : f.name)));
  const ctx: FieldContext = {
    labels: Object.fromEntries((manifest?.fields ?? []).map((f) => [f.in === 'secrets' ? `secrets.${f.name}` : f.name, { label: f.label, description: f.description }])),
    secretsSet: new Set(editing?.secretsSet ?? []),
    isSecret: (path) => path.startsWith('secrets.') || secretFields.has(path),
  };
  const props = Object.keys(schema.properties ?? {}).filter((k) => k !== 'id' && k !== 'type');
  const required = new Set(schema.required ?? []);
  const first = new Set(['name', ...(manifest?.fields ?? []).filter((f) => f.in === 'definition').map((f) => f.name), ...props.filter((k) => required.has(k))]);
  if (props.includes('secrets') && (schema.properties?.secrets?.properties || !manifest?.presets)) first.add('secrets');
  const main = props.filter((k) => first.has(k));
  const more = props.filter((k) => !first.has(k));
  const preset = manifest?.presets?.find((p) => p.id === value.preset);
  const save = useMutation({
    mutationFn: () => {
      const body = { ...((pruned(value) as JsonObject | undefined) ?? {}), id, type };
      return editing ? api<ConnectorState>('PUT', `/v1/connectors/${encodeURIComponent(editing.id)}`, body) : api<ConnectorState>('POST', '/v1/connectors', body);
    },
    onSuccess: (c) => {
      notifications.show({ color: 'green', message: t(editing ? 'Connector {id} saved' : 'Connector {id} added', { id: c.id }) });
      onDone();
    },
  });
  const secrets = (value.secrets ?? {}) as JsonObject;
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
      data-testid="connector-form"
    >
      <Stack>
        <Select
          label={t('Type')}
          data={types.map((m) => ({ value: m.type, label: m.name }))}
          value={type}
          onChange={(v) => {
            setType(v);
            setValue({});
          }}
          allowDeselect={false}
          disabled={editing !== undefined}
        />
        <TextInput label={t('Id')} description={t('lower-case letters, digits, "_" and "-"')} required value={id} onChange={(e) => setId(e.currentTarget.value)} disabled={editing !== undefined} data-testid="connector-id" />
        <ObjectFields path="" schema={schema} value={value} onChange={setValue} ctx={ctx} only={main} />
        {preset && preset.fields.length > 0 && (
          <Fieldset legend={t('What {name} needs', { name: preset.name })} data-path="preset-fields">
            <Stack gap="xs">
              {preset.fields.map((f) => {
                const path = `secrets.${f.name}`;
                const stored = ctx.secretsSet.has(path);
                const common = { label: f.label, description: f.description, withAsterisk: !stored, value: typeof secrets[f.name] === 'string' ? (secrets[f.name] as string) : '', 'data-path': path, placeholder: stored ? t('stored; leave empty to keep it') : undefined };
                const set = (v: string) => setValue({ ...value, secrets: { ...secrets, [f.name]: v } });
                return f.secret ? <PasswordInput key={f.name} {...common} onChange={(e) => set(e.currentTarget.value)} /> : <TextInput key={f.name} {...common} onChange={(e) => set(e.currentTarget.value)} />;
              })}
            </Stack>
          </Fieldset>
        )}
        {more.length > 0 && (
          <Accordion variant="contained">
            <Accordion.Item value="more">
              <Accordion.Control>{t('More settings')}</Accordion.Control>
              <Accordion.Panel>
                <ObjectFields path="" schema={schema} value={value} onChange={setValue} ctx={ctx} only={more} />
              </Accordion.Panel>
            </Accordion.Item>
          </Accordion>
        )}
        {save.error && <Alert color="red">{(save.error as ApiError).message}</Alert>}
        <Button type="submit" loading={save.isPending}>
          {editing ? t('Save') : t('Add connector')}
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
  const [editing, setEditing] = useState<Editing | null>(null);
  const edit = useMutation({
    mutationFn: async (c: ConnectorState) => {
      const d = await api<{ definition: JsonObject; secrets_set: string[] }>('GET', `/v1/connectors/${encodeURIComponent(c.id)}/definition`);
      return { id: c.id, type: c.type, definition: d.definition, secretsSet: d.secrets_set };
    },
    onSuccess: (e) => setEditing(e),
  });
  const toggleRoute = useMutation({
    mutationFn: (r: { id: string; enabled: boolean }) => api<Route>('PATCH', `/v1/routes/${encodeURIComponent(r.id)}`, { enabled: r.enabled }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ['routes'] }),
  });
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
  const error = toggle.error ?? toggleRoute.error ?? edit.error ?? addRoute.error ?? removeRoute.error ?? connectors.error ?? routes.error;
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>{t('Connectors and routes')}</Title>
        <Button onClick={add.open} disabled={!types.data}>
          {t('Add connector')}
        </Button>
      </Group>
      {error && <Alert color="red">{(error as Error).message}</Alert>}
      <ModulesSection />
      <Title order={4}>{t('Connectors')}</Title>
      <Text size="sm" c="dimmed">
        {t('A connector switched off takes no traffic: its routes send to their next connector. A route switched off matches no message: they take the next matching route.')}
      </Text>
      <ConnectorTable
        connectors={connectors.data?.data ?? []}
        onToggle={(id, enabled) => toggle.mutate({ id, enabled })}
        busy={toggle.isPending}
        actions={(c) =>
          c.source === 'api' ? (
            <Button size="xs" variant="subtle" onClick={() => edit.mutate(c)} loading={edit.isPending && edit.variables?.id === c.id} disabled={!types.data} aria-label={`${t('Edit')} ${c.id}`}>
              {t('Edit')}
            </Button>
          ) : (
            <Text size="xs" c="dimmed">
              {t('config file')}
            </Text>
          )
        }
      />
      <Title order={4}>{t('Routes')}</Title>
      <Table striped withTableBorder data-testid="routes-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t('Id')}</Table.Th>
            <Table.Th>{t('Connectors, in order')}</Table.Th>
            <Table.Th>{t('Channel')}</Table.Th>
            <Table.Th>{t('Prefixes')}</Table.Th>
            <Table.Th>{t('Accounts')}</Table.Th>
            <Table.Th>{t('Enabled')}</Table.Th>
            <Table.Th />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(routes.data?.data ?? []).map((r) => (
            <Table.Tr key={r.id} data-route-id={r.id}>
              <Table.Td>
                <Code>{r.id}</Code>
              </Table.Td>
              <Table.Td>{r.split ? r.split.map((s) => `${s.connector} ×${s.weight}`).join(', ') : r.connectors.join(' → ')}</Table.Td>
              <Table.Td>{r.channel}</Table.Td>
              <Table.Td>{r.prefixes.join(', ') || t('every number')}</Table.Td>
              <Table.Td>{r.accounts.length || t('all')}</Table.Td>
              <Table.Td>
                <Switch checked={r.enabled} aria-label={`${t('Enabled')}: ${r.id}`} disabled={toggleRoute.isPending} onChange={(e) => toggleRoute.mutate({ id: r.id, enabled: e.currentTarget.checked })} />
              </Table.Td>
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
      <Modal opened={adding} onClose={add.close} title={t('Add connector')} size="xl">
        {types.data && (
          <ConnectorForm
            types={types.data.data}
            onDone={() => {
              add.close();
              void client.invalidateQueries({ queryKey: ['connectors'] });
            }}
          />
        )}
      </Modal>
      <Modal opened={editing !== null} onClose={() => setEditing(null)} title={editing ? t('Edit connector {id}', { id: editing.id }) : ''} size="xl">
        {types.data && editing && (
          <ConnectorForm
            key={editing.id}
            types={types.data.data}
            editing={editing}
            onDone={() => {
              setEditing(null);
              void client.invalidateQueries({ queryKey: ['connectors'] });
            }}
          />
        )}
      </Modal>
    </Stack>
  );
}
