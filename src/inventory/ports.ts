/**
 * The inventory as the gateway and the HTTP layer see it: projects, targets with their services, and
 * the key registry. Implemented over the store in this folder; the gateway imports only these types.
 */

export type ProjectRole = 'member' | 'pi' | 'admin';

export interface Project {
  id: string;
  name: string;
  createdAt: number;
}

export interface ProjectMember {
  projectId: string;
  userId: string;
  userName: string;
  role: ProjectRole;
}

/** A service on a target that tunnels may reach, e.g. Jupyter on 8888 with its URL path and token. */
export interface TargetService {
  name: string;
  port: number;
  /** URL path to open, e.g. `/lab`; null for non-HTTP services. */
  path: string | null;
  /** Token to append to the URL (Jupyter's `?token=`); shown only to members of the project. */
  token: string | null;
}

/** A VM, job or compute node that members of its project may reach through the gateway. */
export interface Target {
  id: string;
  /** Unique name, used as `ssh -J gateway NAME` and in generated ssh config. */
  name: string;
  projectId: string;
  projectName: string;
  /** Host as registered: an IP address or a DNS name that the gateway resolves. */
  host: string;
  /** SSH port on the target. */
  port: number;
  /** Login account on the target (e.g. `ubuntu`), or null for "the user's own name". */
  loginUser: string | null;
  services: TargetService[];
  /** Client CIDRs allowed to reach this target; empty = any. */
  allowedCidrs: string[];
  /** Epoch ms after which the target is unreachable and hidden; null = no expiry. */
  expiresAt: number | null;
  createdAt: number;
}

export interface NewTarget {
  name: string;
  projectName: string;
  host: string;
  port: number;
  loginUser: string | null;
  services: TargetService[];
  allowedCidrs: string[];
  expiresAt: number | null;
}

/** A public key a user registered (for gateway login where the operator enables it, and for VMs). */
export interface RegisteredKey {
  id: string;
  userId: string;
  userName: string;
  type: string;
  bits: number;
  fingerprint: string;
  /** authorized_keys form, with the comment. */
  publicKey: string;
  comment: string;
  createdAt: number;
}

export interface InventoryPort {
  /** Targets the user may reach now (member of the target's project, not expired), by name. */
  targetsForUser(userId: string, now: number): Promise<Target[]>;
  /** A target by name, or undefined (expired ones included; callers check `expiresAt`). */
  targetByName(name: string): Promise<Target | undefined>;
  /** The user's project memberships. */
  projectsOfUser(userId: string): Promise<(Project & { role: ProjectRole })[]>;
}

export interface KeyRegistryPort {
  /** The registered key with this SHA256 fingerprint for this user, if any. */
  findForUser(userId: string, fingerprint: string): Promise<RegisteredKey | undefined>;
  listForUser(userId: string): Promise<RegisteredKey[]>;
}

/** Who changed the inventory, for the audit log: an operator, a user, or an orchestrator's token. */
export interface Actor {
  /** User name, service account name, or e.g. `admin-cli`. */
  name: string;
  /** The peer address as the socket saw it; null for local commands. */
  clientAddress: string | null;
}
