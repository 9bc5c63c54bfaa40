import { ActionIcon, Button, Fieldset, Group, MultiSelect, NumberInput, PasswordInput, Select, Stack, Switch, TagsInput, Text, Textarea, TextInput } from '@mantine/core';
import { useState } from 'react';
import { useI18n } from './i18n.tsx';

/**
 * A form generated from a JSON Schema (the connector definitions' TypeBox
 * schemas, served by GET /v1/connector-types): objects become fieldsets,
 * records (`patternProperties`) name/value lists, unions a choice of their
 * variants, enums selects; strings, numbers and booleans their inputs. The
 * schema decides the form, so a connector type, or a new section of the HTTP
 * manifest, needs no page of its own.
 */
export interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  patternProperties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: (string | number)[];
  const?: string | number | boolean;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  description?: string;
  default?: unknown;
}

export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

/** A field's label and help, where the manifest has them; otherwise the property name. */
export interface FieldLabel {
  label: string;
  description?: string;
}

export interface FieldContext {
  labels: Record<string, FieldLabel>;
  /** dotted paths of the stored secrets (`password`, `secrets.bot_token`): left empty, they keep their value */
  secretsSet: ReadonlySet<string>;
  /** dotted paths whose strings are secrets */
  isSecret(path: string): boolean;
}

const humanize = (name: string) => (name.charAt(0).toUpperCase() + name.slice(1)).replaceAll('_', ' ');

function labelOf(ctx: FieldContext, path: string, name: string, schema: JsonSchema): FieldLabel {
  const known = ctx.labels[path];
  if (known) return known;
  return schema.description === undefined ? { label: humanize(name) } : { label: humanize(name), description: schema.description };
}

/** The variant of a union the value is: the one whose `const` properties it carries. */
function variantOf(variants: JsonSchema[], value: Json | undefined): number {
  if (value === undefined || value === null || typeof value !== 'object' || Array.isArray(value)) return -1;
  return variants.findIndex((v) => Object.entries(v.properties ?? {}).every(([k, p]) => p.const === undefined || value[k] === p.const));
}

function variantName(v: JsonSchema, i: number): string {
  const fixed = Object.values(v.properties ?? {}).find((p) => p.const !== undefined);
  return fixed ? String(fixed.const) : `#${i + 1}`;
}

/** The const properties of a variant: what choosing it writes. */
function constsOf(v: JsonSchema): JsonObject {
  return Object.fromEntries(Object.entries(v.properties ?? {}).flatMap(([k, p]) => (p.const === undefined ? [] : [[k, p.const]])));
}

/** Removes empty strings, empty objects and arrays, and unset values: what the form leaves blank is not sent. */
export function pruned(value: Json | undefined): Json | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (Array.isArray(value)) return value.length === 0 ? undefined : value;
  if (typeof value === 'object') {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) {
      const p = pruned(v);
      if (p !== undefined) out[k] = p;
    }
    return Object.keys(out).length === 0 ? undefined : out;
  }
  return value;
}

interface FieldProps {
  path: string;
  name: string;
  /** shown instead of the manifest's label or the humanized name (a record's keys are shown as they are) */
  labelAs?: string;
  schema: JsonSchema;
  required: boolean;
  value: Json | undefined;
  onChange(value: Json | undefined): void;
  ctx: FieldContext;
}

/** One property of the schema, whatever its kind. */
export function SchemaField({ path, name, labelAs, schema, required, value, onChange, ctx }: FieldProps) {
  const { t } = useI18n();
  if (schema.const !== undefined) return null; // fixed by the type or the union's variant
  const known = labelOf(ctx, path, name, schema);
  const { label, description } = labelAs === undefined ? known : { label: labelAs, description: undefined };
  // Marked, not enforced by the browser: an optional section's required fields are required only once it is used; the server says what is missing.
  const common = { label, description, withAsterisk: required, 'data-path': path };
  if (schema.enum) {
    const numeric = schema.enum.every((e) => typeof e === 'number');
    return (
      <Select
        {...common}
        data={schema.enum.map(String)}
        value={value === undefined || value === null ? null : String(value)}
        onChange={(v) => onChange(v === null ? undefined : numeric ? Number(v) : v)}
        clearable={!required}
        searchable={schema.enum.length > 8}
        placeholder={schema.default === undefined ? undefined : String(schema.default)}
      />
    );
  }
  if (schema.anyOf) {
    const variants = schema.anyOf;
    if (variants.every((v) => v.const !== undefined)) {
      const consts = variants.map((v) => v.const!);
      return <Select {...common} data={consts.map(String)} value={value === undefined ? null : String(value)} onChange={(v) => onChange(v === null ? undefined : consts.find((c) => String(c) === v))} clearable={!required} />;
    }
    const chosen = variantOf(variants, value);
    return (
      <Fieldset legend={label} data-path={path}>
        <Stack gap="xs">
          <Select
            label={t('Kind')}
            data={variants.map((v, i) => ({ value: String(i), label: variantName(v, i) }))}
            value={chosen < 0 ? null : String(chosen)}
            onChange={(v) => onChange(v === null ? undefined : constsOf(variants[Number(v)]!))}
            clearable={!required}
            data-path={`${path}.kind`}
          />
          {chosen >= 0 && <ObjectFields path={path} schema={variants[chosen]!} value={value as JsonObject} onChange={onChange} ctx={ctx} />}
        </Stack>
      </Fieldset>
    );
  }
  if (schema.type === 'object' && schema.properties) {
    return (
      <Fieldset legend={label} data-path={path}>
        {description && (
          <Text size="xs" c="dimmed" mb="xs">
            {description}
          </Text>
        )}
        <ObjectFields path={path} schema={schema} value={(value ?? {}) as JsonObject} onChange={onChange} ctx={ctx} />
      </Fieldset>
    );
  }
  if (schema.type === 'object' && schema.patternProperties) {
    const [pattern, valueSchema] = Object.entries(schema.patternProperties)[0]!;
    return <RecordField path={path} label={label} description={description} pattern={pattern} valueSchema={valueSchema} value={(value ?? {}) as JsonObject} onChange={onChange} ctx={ctx} />;
  }
  if (schema.type === 'array' && schema.items) {
    const items = schema.items;
    if (items.enum) return <MultiSelect {...common} data={items.enum.map(String)} value={((value ?? []) as string[]).map(String)} onChange={(v) => onChange(v)} />;
    if (items.type === 'object') return <ListField path={path} label={label} items={items} value={(value ?? []) as Json[]} onChange={onChange} ctx={ctx} />;
    return <TagsInput {...common} value={((value ?? []) as Json[]).map(String)} onChange={(v) => onChange(v)} />;
  }
  if (schema.type === 'integer' || schema.type === 'number') {
    return (
      <NumberInput
        {...common}
        allowDecimal={schema.type === 'number'}
        min={schema.minimum}
        max={schema.maximum}
        placeholder={schema.default === undefined ? undefined : String(schema.default)}
        value={typeof value === 'number' ? value : ''}
        onChange={(v) => onChange(typeof v === 'number' ? v : undefined)}
      />
    );
  }
  if (schema.type === 'boolean') return <Switch {...common} checked={value === true} onChange={(e) => onChange(e.currentTarget.checked)} />;
  if (ctx.isSecret(path)) {
    const stored = ctx.secretsSet.has(path);
    return <PasswordInput {...common} withAsterisk={required && !stored} placeholder={stored ? t('stored; leave empty to keep it') : undefined} value={typeof value === 'string' ? value : ''} onChange={(e) => onChange(e.currentTarget.value)} />;
  }
  if ((schema.maxLength ?? 0) > 2000) return <Textarea {...common} autosize minRows={1} maxRows={8} value={typeof value === 'string' ? value : ''} onChange={(e) => onChange(e.currentTarget.value)} styles={{ input: { fontFamily: 'monospace' } }} />;
  return <TextInput {...common} placeholder={schema.default === undefined ? undefined : String(schema.default)} value={value === undefined || value === null ? '' : String(value)} onChange={(e) => onChange(e.currentTarget.value)} />;
}

/** The properties of an object schema, `only` of them when given. */
export function ObjectFields({ path, schema, value, onChange, ctx, only }: { path: string; schema: JsonSchema; value: JsonObject | undefined; onChange(value: JsonObject): void; ctx: FieldContext; only?: readonly string[] }) {
  const required = new Set(schema.required ?? []);
  const names = only ?? Object.keys(schema.properties ?? {});
  return (
    <Stack gap="xs">
      {names.map((name) => {
        const prop = schema.properties?.[name];
        if (!prop) return null;
        const at = path ? `${path}.${name}` : name;
        return <SchemaField key={at} path={at} name={name} schema={prop} required={required.has(name)} value={value?.[name]} onChange={(v) => onChange({ ...constsOf(schema), ...(value ?? {}), [name]: v as Json })} ctx={ctx} />;
      })}
    </Stack>
  );
}

/** A record: named values of one schema (headers, form fields, error code meanings, secrets). */
function RecordField({ path, label, description, pattern, valueSchema, value, onChange, ctx }: { path: string; label: string; description: string | undefined; pattern: string; valueSchema: JsonSchema; value: JsonObject; onChange(value: JsonObject): void; ctx: FieldContext }) {
  const { t } = useI18n();
  const [key, setKey] = useState('');
  const valid = key !== '' && new RegExp(pattern).test(key) && !(key in value);
  const add = () => {
    if (!valid) return;
    onChange({ ...value, [key]: valueSchema.type === 'object' ? {} : '' });
    setKey('');
  };
  return (
    <Fieldset legend={label} data-path={path}>
      {description && (
        <Text size="xs" c="dimmed" mb="xs">
          {description}
        </Text>
      )}
      <Stack gap="xs">
        {Object.entries(value).map(([k, v]) => (
          <Group key={k} align="end" wrap="nowrap">
            <div style={{ flex: 1 }}>
              <SchemaField path={`${path}.${k}`} name={k} labelAs={k} schema={valueSchema} required={false} value={v} onChange={(next) => onChange({ ...value, [k]: next as Json })} ctx={ctx} />
            </div>
            <ActionIcon
              variant="subtle"
              color="red"
              aria-label={`${t('Remove')} ${k}`}
              onClick={() => {
                const { [k]: _, ...rest } = value;
                onChange(rest);
              }}
            >
              ×
            </ActionIcon>
          </Group>
        ))}
        <Group align="end">
          <TextInput
            size="xs"
            label={t('New key')}
            value={key}
            onChange={(e) => setKey(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter') {
                e.preventDefault();
                add();
              }
            }}
            error={key !== '' && !valid ? t('not a valid name, or taken') : undefined}
            data-path={`${path}.new-key`}
          />
          <Button size="xs" variant="light" onClick={add} disabled={!valid}>
            {t('Add')}
          </Button>
        </Group>
      </Stack>
    </Fieldset>
  );
}

/** A list of objects (a weighted split, say): one fieldset each, added and removed. */
function ListField({ path, label, items, value, onChange, ctx }: { path: string; label: string; items: JsonSchema; value: Json[]; onChange(value: Json[]): void; ctx: FieldContext }) {
  const { t } = useI18n();
  return (
    <Fieldset legend={label} data-path={path}>
      <Stack gap="xs">
        {value.map((item, i) => (
          <Group key={i} align="end" wrap="nowrap">
            <div style={{ flex: 1 }}>
              <ObjectFields path={`${path}.${i}`} schema={items} value={item as JsonObject} onChange={(next) => onChange(value.map((v, j) => (j === i ? next : v)))} ctx={ctx} />
            </div>
            <ActionIcon variant="subtle" color="red" aria-label={`${t('Remove')} ${i + 1}`} onClick={() => onChange(value.filter((_, j) => j !== i))}>
              ×
            </ActionIcon>
          </Group>
        ))}
        <Button size="xs" variant="light" onClick={() => onChange([...value, {}])}>
          {t('Add')}
        </Button>
      </Stack>
    </Fieldset>
  );
}
