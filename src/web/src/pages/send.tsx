import { Alert, Button, FileButton, Group, Stack, Text, Textarea, TextInput, Title } from '@mantine/core';
import { useForm } from '@mantine/form';
import { useDebouncedValue } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useNavigate } from 'react-router';
import { numbersFromFile } from '../numbers-file.ts';
import { api, ApiError, can, type Segments } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { useSession } from '../session.tsx';

/** Numbers as pasted: one a line, or separated by commas or semicolons. */
function parseNumbers(raw: string): string[] {
  return raw
    .split(/[\n,;]+/)
    .map((n) => n.trim())
    .filter((n) => n.length > 0);
}

interface BulkResult {
  batch_id: string;
  accepted: number;
  rejected: number;
  errors: { index: number; message: string }[];
}

export function SendPage() {
  const { t } = useI18n();
  const session = useSession();
  const navigate = useNavigate();
  const client = useQueryClient();
  const form = useForm({ initialValues: { to: '', from: '', text: '' } });
  const [text] = useDebouncedValue(form.values.text, 150);
  // The counter asks the server, so it counts exactly as sending will (the same encoding code and the account's part limit).
  const segments = useQuery({
    queryKey: ['segments', text],
    queryFn: () => api<Segments>('POST', '/v1/sms/segments', { text }),
    enabled: text.length > 0,
    placeholderData: keepPreviousData,
  });
  const numbers = parseNumbers(form.values.to);
  const [refused, setRefused] = useState<{ to: string; message: string }[]>([]);
  const [fileNote, setFileNote] = useState<{ ok: boolean; text: string } | null>(null);
  const upload = async (file: File | null) => {
    if (!file) return;
    try {
      const found = await numbersFromFile(file);
      if (found.length === 0) {
        setFileNote({ ok: false, text: t('{file}: no numbers found. Put them in the first column, or in a column named phone.', { file: file.name }) });
        return;
      }
      const current = parseNumbers(form.values.to);
      form.setFieldValue('to', [...current, ...found].join('\n'));
      setFileNote({ ok: true, text: t('{file}: {n} numbers added', { file: file.name, n: found.length }) });
    } catch (err) {
      setFileNote({ ok: false, text: t('{file} could not be read: {error}', { file: file.name, error: (err as Error).message }) });
    }
  };
  const send = useMutation({
    mutationFn: async (v: { to: string; from: string; text: string }) => {
      const list = parseNumbers(v.to);
      const from = v.from.trim() === '' ? {} : { from: v.from.trim() };
      if (list.length === 1) return { single: await api<{ id: string }>('POST', '/v1/messages', { to: list[0], text: v.text, ...from }) };
      return { bulk: await api<BulkResult>('POST', '/v1/messages/bulk', { to: list, text: v.text, ...from }) };
    },
    onSuccess: (result) => {
      void client.invalidateQueries({ queryKey: ['messages'] });
      void client.invalidateQueries({ queryKey: ['stats'] });
      if (result.single) {
        notifications.show({ color: 'green', title: t('Message accepted'), message: result.single.id });
        navigate(`/history`);
      } else if (result.bulk) {
        notifications.show({ color: result.bulk.rejected > 0 ? 'yellow' : 'green', title: t('Message accepted'), message: t('{accepted} accepted, {rejected} refused', { accepted: result.bulk.accepted, rejected: result.bulk.rejected }) });
        // Refused numbers stay on the page with the server's reason, so they can be fixed.
        if (result.bulk.rejected > 0) setRefused(result.bulk.errors.map((e) => ({ to: parseNumbers(form.values.to)[e.index] ?? `#${e.index + 1}`, message: e.message })));
        else navigate(`/history`);
      }
    },
  });
  const allowed = can.send(session.role);
  const counter = text.length === 0 ? null : segments.data;
  return (
    <Stack maw={720}>
      <Title order={2}>{t('Send')}</Title>
      {!allowed && <Alert color="gray">{t('Viewers cannot send messages.')}</Alert>}
      <form onSubmit={form.onSubmit((v) => send.mutate(v))}>
        <Stack>
          <Textarea label={t('Recipients')} description={t('One number per line, or separated by commas')} autosize minRows={1} maxRows={8} required disabled={!allowed} {...form.getInputProps('to')} />
          <Group gap="xs">
            <FileButton onChange={(f) => void upload(f)} accept=".csv,.txt,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet">
              {(props) => (
                <Button variant="light" size="xs" disabled={!allowed} {...props}>
                  {t('Upload CSV or XLSX')}
                </Button>
              )}
            </FileButton>
            {numbers.length > 0 && (
              <Text size="sm" c="dimmed" data-testid="recipient-count">
                {t('{n} recipients', { n: numbers.length })}
              </Text>
            )}
          </Group>
          {fileNote && (
            <Text size="sm" c={fileNote.ok ? 'dimmed' : 'red'} data-testid="file-note">
              {fileNote.text}
            </Text>
          )}
          <TextInput label={t('Sender')} description={t('optional: a registered sender name')} maxLength={16} disabled={!allowed} {...form.getInputProps('from')} />
          <Textarea label={t('Text')} autosize minRows={4} required disabled={!allowed} {...form.getInputProps('text')} />
          <Text size="sm" c={counter && counter.parts_count > counter.max_parts ? 'red' : 'dimmed'} data-testid="segment-counter">
            {counter
              ? t('{characters} characters · {parts} of {max} parts · {encoding}', { characters: counter.characters, parts: counter.parts_count, max: counter.max_parts, encoding: counter.encoding === 'gsm7' ? 'GSM-7' : 'UCS-2' })
              : ' '}
          </Text>
          {refused.length > 0 && (
            <Alert color="yellow" title={t('{n} numbers were refused', { n: refused.length })} data-testid="refused">
              {refused.slice(0, 20).map((r, i) => (
                <Text size="sm" key={i}>
                  {r.to}: {r.message}
                </Text>
              ))}
            </Alert>
          )}
          {send.error && (
            <Alert color="red" role="alert">
              {send.error instanceof ApiError ? send.error.message : t('Something went wrong')}
            </Alert>
          )}
          <Group>
            <Button type="submit" loading={send.isPending} disabled={!allowed || numbers.length === 0}>
              {numbers.length > 1 ? t('Send to {n} numbers', { n: numbers.length }) : t('Send message')}
            </Button>
          </Group>
        </Stack>
      </form>
    </Stack>
  );
}
