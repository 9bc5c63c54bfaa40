import { sql } from 'kysely';
import type { Database } from './db.ts';

/** The fields duplicates are found by: a phone (E.164) or an e-mail (lower case), as stored. */
export type DuplicateField = 'phone' | 'email';

/** Contacts of one project that share a phone or an e-mail. */
export interface DuplicateGroup {
  field: DuplicateField;
  /** the shared phone or e-mail */
  value: string;
  /** every contact of the project with it, oldest first */
  contactIds: string[];
  /** the newest of them: groups are listed newest first by it */
  newestId: string;
}

/** Where a page of groups starts: after the group with this key (newest id desc, then field and value asc). */
export interface DuplicateKey {
  newestId: string;
  field: DuplicateField;
  value: string;
}

interface GroupRow {
  field: DuplicateField;
  value: string;
  newest: string;
  ids: string;
}

/**
 * The groups of a project's contacts that share a phone or an e-mail, a page
 * at a time. Phones and e-mails are JSON arrays in their columns, so each
 * page unpacks them (SQLite `json_each`, PostgreSQL
 * `jsonb_array_elements_text`) for the contacts of the project, which the
 * index `contacts_account_project_id` (account, project, id) finds, and
 * groups them (two contacts or more: min(id) <> max(id), which needs no
 * distinct count). There is no index on the values themselves: a table of
 * them would cost every contact write and every import row. Every query
 * takes the account id.
 */
export async function findDuplicates(database: Database, accountId: string, projectId: string, options: { after?: DuplicateKey | undefined; limit: number }): Promise<DuplicateGroup[]> {
  const groupsOf = (field: DuplicateField, column: 'phones' | 'emails') => {
    const elements = database.dialect === 'postgres' ? sql`CROSS JOIN LATERAL jsonb_array_elements_text(c.${sql.ref(column)}::jsonb) AS j(value)` : sql`CROSS JOIN json_each(c.${sql.ref(column)}) AS j`;
    const ids = database.dialect === 'postgres' ? sql`string_agg(c.id, ',')` : sql`group_concat(c.id, ',')`;
    return sql`SELECT ${sql.lit(field)} AS field, j.value AS value, max(c.id) AS newest, ${ids} AS ids
      FROM contacts AS c ${elements}
      WHERE c.account_id = ${accountId} AND c.project_id = ${projectId}
      GROUP BY j.value
      HAVING min(c.id) <> max(c.id)`;
  };
  const a = options.after;
  const after = a === undefined ? sql`` : sql`WHERE g.newest < ${a.newestId} OR (g.newest = ${a.newestId} AND (g.field > ${a.field} OR (g.field = ${a.field} AND g.value > ${a.value})))`;
  const result = await sql<GroupRow>`SELECT g.field, g.value, g.newest, g.ids FROM (${groupsOf('phone', 'phones')} UNION ALL ${groupsOf('email', 'emails')}) AS g
    ${after}
    ORDER BY g.newest DESC, g.field ASC, g.value ASC
    LIMIT ${options.limit}`.execute(database.db);
  return result.rows.map((r) => ({ field: r.field, value: String(r.value), newestId: r.newest, contactIds: [...new Set(r.ids.split(','))].sort() }));
}
