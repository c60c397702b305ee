/** Project roles. Every role reaches the project's targets; `pi` and `admin` also mark who leads and manages the project. */
import type { ProjectRole } from './ports.ts';

/** The roles a project member can have. */
export const PROJECT_ROLES: readonly ProjectRole[] = ['member', 'pi', 'admin'];

/** Whether a string is a project role. */
export function isProjectRole(s: string): s is ProjectRole {
  return (PROJECT_ROLES as readonly string[]).includes(s);
}
