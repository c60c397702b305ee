/**
 * The key registry: users import, list and delete their public keys; orchestrators fetch a project's
 * keys as `authorized_keys` text or cloud-init user data to put on new VMs. Keys are parsed strictly,
 * weak ones refused (DSA; RSA below 2048 bits), and stored in canonical one-line form with their
 * SHA256 fingerprint, which is how users name them afterwards.
 */
import type { Auditor } from '../audit/auditor.ts';
import type { Clock } from '../clock.ts';
import { AirlockError } from '../errors.ts';
import { fingerprintSha256 } from '../ssh/fingerprint.ts';
import { assertAcceptableKey, formatPublicKey, parsePublicKey } from '../ssh/keys.ts';
import { hasRfc4716Block, parseRfc4716PublicKey } from '../ssh/rfc4716.ts';
import type { Store } from '../store/repositories.ts';
import type { Actor, KeyRegistryPort, RegisteredKey } from './ports.ts';

/** How many keys one user may register: enough for every laptop, not a storage service. */
export const MAX_KEYS_PER_USER = 50;
const MAX_COMMENT = 200;
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** The owner of keys, as far as the registry needs to know. */
export interface KeyOwner {
  id: string;
  name: string;
}

export class KeyRegistry implements KeyRegistryPort {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #audit: Auditor;

  constructor(deps: { store: Store; clock: Clock; audit: Auditor }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
  }

  /** The registered key with this SHA256 fingerprint for this user, if any. */
  findForUser(userId: string, fingerprint: string): Promise<RegisteredKey | undefined> {
    return this.#store.publicKeys.byUserAndFingerprint(userId, fingerprint);
  }

  /** The user's keys, oldest first. */
  listForUser(userId: string): Promise<RegisteredKey[]> {
    return this.#store.publicKeys.listByUser(userId);
  }

  /**
   * Registers a key from one `.pub` / authorized_keys line (`type base64 [comment]`, no options), or
   * from one SSH2 public-key file (RFC 4716, as PuTTYgen saves it; pasted into the web app).
   * Throws invalid_key, weak_key, conflict (already registered) or quota_exceeded.
   */
  async add(owner: KeyOwner, line: string, actor: Actor): Promise<RegisteredKey> {
    const key = hasRfc4716Block(line) ? parseRfc4716PublicKey(line) : parsePublicKey(line);
    assertAcceptableKey(key);
    const comment = key.comment.trim();
    if (comment.length > MAX_COMMENT) throw new AirlockError('invalid_key', `The key comment is longer than ${MAX_COMMENT} characters; shorten it.`);
    const fingerprint = fingerprintSha256(key.blob);
    if ((await this.#store.publicKeys.countByUser(owner.id)) >= MAX_KEYS_PER_USER) {
      throw new AirlockError('quota_exceeded', `You already have ${MAX_KEYS_PER_USER} keys registered; remove one you no longer use with airlock keys remove.`);
    }
    const stored = await this.#store.publicKeys.create(
      { userId: owner.id, type: key.type, bits: key.bits, fingerprint, publicKey: formatPublicKey(key, comment), comment },
      this.#clock.now(),
    );
    await this.#record('inventory.key_add', actor, { user: owner.name, fingerprint, type: key.type, bits: key.bits });
    return stored;
  }

  /** Deletes one of the owner's keys by fingerprint; not_found when they have none with it. */
  async remove(owner: KeyOwner, fingerprint: string, actor: Actor): Promise<RegisteredKey> {
    if (!FINGERPRINT.test(fingerprint)) {
      throw new AirlockError('bad_request', `"${fingerprint.slice(0, 64)}" is not a key fingerprint: give it as airlock keys list shows it (SHA256:…).`);
    }
    const key = await this.#store.publicKeys.byUserAndFingerprint(owner.id, fingerprint);
    if (key === undefined || !(await this.#store.publicKeys.remove(owner.id, fingerprint))) {
      throw new AirlockError('not_found', `You have no key with fingerprint ${fingerprint}; see airlock keys list.`);
    }
    await this.#record('inventory.key_remove', actor, { user: owner.name, fingerprint });
    return key;
  }

  /** The keys of a project's members (disabled accounts left out), by user. */
  async projectKeys(projectId: string): Promise<RegisteredKey[]> {
    return this.#store.publicKeys.listForProject(projectId);
  }

  /** A project's keys as `authorized_keys` text: one line per key, its comment naming the user. */
  async authorizedKeys(project: { id: string; name: string }): Promise<string> {
    const keys = await this.projectKeys(project.id);
    return [`# Airlock: public keys of the members of project ${project.name}`, ...keys.map(authorizedKeysLine)].join('\n') + '\n';
  }

  /** A project's keys as cloud-init user data (`#cloud-config` with `ssh_authorized_keys`). */
  async cloudInit(project: { id: string; name: string }): Promise<string> {
    const lines = (await this.projectKeys(project.id)).map(authorizedKeysLine);
    // JSON strings are valid YAML double-quoted scalars, so no key text can break out of the list.
    const list = lines.length === 0 ? 'ssh_authorized_keys: []' : ['ssh_authorized_keys:', ...lines.map((l) => `  - ${JSON.stringify(l)}`)].join('\n');
    return `#cloud-config\n# Airlock: public keys of the members of project ${project.name}\n${list}\n`;
  }

  #record(type: string, actor: Actor, details: Record<string, unknown>): Promise<void> {
    return this.#audit.record({ type, outcome: 'success', actor: actor.name, clientAddress: actor.clientAddress, details });
  }
}

/** `type base64 airlock:USER`: the user's own comment is dropped so that every line says whose key it is. */
function authorizedKeysLine(key: RegisteredKey): string {
  const [type, data] = key.publicKey.split(' ');
  return `${type} ${data} airlock:${key.userName}`;
}
