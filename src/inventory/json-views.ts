/** The JSON shapes of inventory objects, shared by the HTTP API and the CLI's `--json` output. */
import type { ProjectWithMembers } from './inventory.ts';
import type { RegisteredKey, Target, TargetService } from './ports.ts';
import { formatServiceSpec } from './service-spec.ts';
import { formatAddress } from './target-validation.ts';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** JSON view of a service; `spec` is the `NAME=PORT[/path][?token=T]` form the CLI accepts. */
export function serviceJson(s: TargetService): Record<string, unknown> {
  return { name: s.name, port: s.port, path: s.path, token: s.token, spec: formatServiceSpec(s) };
}

/** JSON view of a target. Service tokens are included: only project members and operators see targets. */
export function targetJson(t: Target): Record<string, unknown> {
  return {
    name: t.name,
    project: t.projectName,
    host: t.host,
    port: t.port,
    address: formatAddress(t.host, t.port),
    login_user: t.loginUser,
    services: t.services.map(serviceJson),
    allowed_cidrs: t.allowedCidrs,
    expires_at: iso(t.expiresAt),
    created_at: iso(t.createdAt),
  };
}

/** JSON view of a registered key. */
export function keyJson(k: RegisteredKey): Record<string, unknown> {
  return { fingerprint: k.fingerprint, type: k.type, bits: k.bits, comment: k.comment, public_key: k.publicKey, user: k.userName, created_at: iso(k.createdAt) };
}

/** JSON view of a project with its members. */
export function projectJson(p: ProjectWithMembers): Record<string, unknown> {
  return { name: p.name, created_at: iso(p.createdAt), members: p.members.map((m) => ({ user: m.userName, role: m.role })) };
}
