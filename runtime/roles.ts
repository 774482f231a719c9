/** Node roles (DESIGN §1): the wire definition, and what a role holds. */
import type { Role } from '../transport/api_types.js';

export { ROLES, type Role } from '../transport/api_types.js';

/** Expands `standalone` into the roles it holds. */
export function effectiveRoles(roles: readonly Role[]): Set<Exclude<Role, 'standalone'>> {
  const out = new Set<Exclude<Role, 'standalone'>>();
  for (const r of roles) {
    if (r === 'standalone') {
      out.add('liaison');
      out.add('data');
      out.add('claimer');
    } else out.add(r);
  }
  return out;
}

/**
 * The role part of a member's label `<role>-<name>` (DESIGN §5): `standalone` for a node holding
 * every role, otherwise the first of liaison, data, claimer it holds.
 */
export function primaryRole(roles: readonly Role[]): Role {
  if (roles.includes('standalone')) return 'standalone';
  for (const r of ['liaison', 'data', 'claimer'] as const) if (roles.includes(r)) return r;
  return roles[0] ?? 'data';
}

/** `<role>-<name>`, how laggards and metrics name a member. */
export function memberLabel(roles: readonly Role[], name: string): string {
  return `${primaryRole(roles)}-${name}`;
}
