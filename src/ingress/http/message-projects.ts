import { ApiError } from '../../errors.ts';
import type { ProjectsRepository } from '../../store/projects.ts';
import type { AuthContext } from './auth.ts';

/**
 * The `project` of the messages a caller sends (S15), settled before
 * prepareMessage. A key bound to a project (`project_id` of the key) gives
 * its messages that project's code when they name none, and refuses another
 * (`project_not_allowed`). Once an account has projects, `project` must be
 * the code of one of them (`unknown_project`); an account without projects
 * keeps `project` as free text, as before projects existed.
 */
export interface ProjectScope {
  /** the code of the key's project, when the key is bound to one */
  readonly bound: string | undefined;
  /** the message with its project settled, or the error for it; `prefix` is the field path of the item (`messages.3.`) */
  apply<T extends { project?: string | undefined }>(req: T, prefix?: string): { ok: true; req: T } | { ok: false; error: ApiError };
}

/** Reads what a request's `project` values need (nothing when no value is given and the key is unbound). */
export async function projectScope(projects: ProjectsRepository, auth: AuthContext, given: readonly unknown[]): Promise<ProjectScope> {
  const codes = given.filter((c): c is string => typeof c === 'string');
  const bound = auth.projectId === undefined ? undefined : await projects.get(auth.account.id, auth.projectId);
  if (auth.projectId !== undefined && !bound) throw new Error(`API key ${auth.keyId} is bound to project ${auth.projectId}, which the account does not have`);
  const { hasProjects, known } = bound ? { hasProjects: true, known: new Set<string>() } : await projects.knownCodes(auth.account.id, codes);
  return {
    bound: bound?.code,
    apply(req, prefix = '') {
      const field = `${prefix}project`;
      if (bound) {
        if (req.project === undefined) return { ok: true, req: { ...req, project: bound.code } };
        if (req.project !== bound.code) {
          return { ok: false, error: new ApiError('project_not_allowed', `this API key is bound to project "${bound.code}"; its messages may not name project "${req.project}"`, [{ field, issue: `must be "${bound.code}" or absent` }]) };
        }
        return { ok: true, req };
      }
      if (req.project !== undefined && hasProjects && !known.has(req.project)) {
        return { ok: false, error: new ApiError('unknown_project', `"${req.project}" is not the code of a project of this account (GET /v1/projects); name one of them, or none`, [{ field, issue: 'names no project code' }]) };
      }
      return { ok: true, req };
    },
  };
}
