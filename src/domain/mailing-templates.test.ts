import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mailingTemplateIds, mailingTemplatesProblems, parseMailingTemplates, storedMailingTemplates, templateIdFor, type TemplateFacts } from './mailing-templates.ts';

test('a channel renders its own template, any other the default', () => {
  const templates = { telegram: 'tpl_tg' };
  assert.equal(templateIdFor('tpl_default', templates, 'telegram'), 'tpl_tg');
  assert.equal(templateIdFor('tpl_default', templates, 'sms'), 'tpl_default');
  assert.equal(templateIdFor('tpl_default', {}, 'telegram'), 'tpl_default');
  assert.deepEqual(mailingTemplateIds('tpl_default', { telegram: 'tpl_tg', sms: 'tpl_default', email: 'tpl_tg' }), ['tpl_default', 'tpl_tg'], 'each once, the default first');
});

test('stored as JSON, none as null, and read back', () => {
  assert.equal(storedMailingTemplates(undefined), null);
  assert.equal(storedMailingTemplates({}), null, 'an empty object is none: the mailing reads as one without');
  const json = storedMailingTemplates({ sms: 'tpl_a' });
  assert.equal(json, '{"sms":"tpl_a"}');
  assert.deepEqual(parseMailingTemplates(json), { sms: 'tpl_a' });
  assert.deepEqual(parseMailingTemplates(null), {});
  assert.deepEqual(parseMailingTemplates(undefined), {}, 'a mailing from before migration 035');
});

test('problems: a channel the mailing does not send on, a template of another project or none, a template of another channel', () => {
  const known = new Map<string, TemplateFacts>([
    ['tpl_tg', { project_id: 'prj_a', channel: 'telegram' }],
    ['tpl_sms', { project_id: 'prj_a', channel: 'sms' }],
    ['tpl_b', { project_id: 'prj_b', channel: 'telegram' }],
  ]);
  const check = (templates: Record<string, string>) => mailingTemplatesProblems('prj_a', ['telegram', 'sms'], templates, (id) => known.get(id));
  assert.deepEqual(check({ telegram: 'tpl_tg', sms: 'tpl_sms' }), []);
  assert.deepEqual(check({}), []);
  assert.deepEqual(check({ email: 'tpl_tg' }), [{ code: 'template_channel_mismatch', field: 'templates.email', issue: 'email is not one of the mailing\'s channels (telegram, sms)' }]);
  assert.deepEqual(check({ telegram: 'tpl_sms' }), [{ code: 'template_channel_mismatch', field: 'templates.telegram', issue: 'tpl_sms is made for sms, not telegram' }]);
  assert.deepEqual(check({ telegram: 'tpl_b' }), [{ code: 'unknown_template', field: 'templates.telegram', issue: 'tpl_b names no template of the project' }], 'another project\'s is none');
  assert.deepEqual(check({ telegram: 'tpl_gone' }).map((p) => p.code), ['unknown_template']);
  assert.deepEqual(check({ telegram: 'tpl_b', sms: 'tpl_tg', email: 'tpl_sms' }).map((p) => [p.code, p.field]), [
    ['unknown_template', 'templates.telegram'],
    ['template_channel_mismatch', 'templates.sms'],
    ['template_channel_mismatch', 'templates.email'],
  ], 'every problem, in the order given');
});
