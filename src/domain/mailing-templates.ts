/**
 * A mailing's templates per channel: `template_id` is the default, used by
 * every channel of the mailing without its own entry in `templates`
 * (`{"<channel>": "<template id>"}`). Pure: no I/O.
 */

/** A mailing's per-channel templates, channel → template id. */
export type MailingTemplates = Readonly<Record<string, string>>;

/** The per-channel templates from the stored JSON (null or absent: none). */
export function parseMailingTemplates(json: string | null | undefined): MailingTemplates {
  return json ? (JSON.parse(json) as Record<string, string>) : {};
}

/** What is stored: null when there is no entry, so a mailing without them reads as it always did. */
export function storedMailingTemplates(templates: MailingTemplates | undefined): string | null {
  return templates && Object.keys(templates).length > 0 ? JSON.stringify(templates) : null;
}

/** The template a step on `channel` renders: the channel's own, else the default. */
export function templateIdFor(defaultId: string, templates: MailingTemplates, channel: string): string {
  return templates[channel] ?? defaultId;
}

/** Every template a mailing renders, the default first, each once. */
export function mailingTemplateIds(defaultId: string, templates: MailingTemplates): string[] {
  return [...new Set([defaultId, ...Object.values(templates)])];
}

/** What the check needs of a template. */
export interface TemplateFacts {
  project_id: string;
  channel: string;
}

export interface TemplatesProblem {
  code: 'unknown_template' | 'template_channel_mismatch';
  /** `templates.<channel>` */
  field: string;
  issue: string;
}

/**
 * Why a mailing's `templates` cannot be used, in the order given: an entry for
 * a channel the mailing does not send on, or one whose template the project
 * lacks (another project's counts as none: `unknown_template`), or whose
 * template was made for another channel. The default `template_id` is not
 * checked here: it is used for whatever channel has no entry.
 */
export function mailingTemplatesProblems(projectId: string, channels: readonly string[], templates: MailingTemplates, lookup: (id: string) => TemplateFacts | undefined): TemplatesProblem[] {
  const problems: TemplatesProblem[] = [];
  for (const [channel, id] of Object.entries(templates)) {
    const field = `templates.${channel}`;
    if (!channels.includes(channel)) {
      problems.push({ code: 'template_channel_mismatch', field, issue: `${channel} is not one of the mailing's channels (${channels.join(', ')})` });
      continue;
    }
    const template = lookup(id);
    if (!template || template.project_id !== projectId) problems.push({ code: 'unknown_template', field, issue: `${id} names no template of the project` });
    else if (template.channel !== channel) problems.push({ code: 'template_channel_mismatch', field, issue: `${id} is made for ${template.channel}, not ${channel}` });
  }
  return problems;
}
