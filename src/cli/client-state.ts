/**
 * Where the researcher CLI keeps things: key and certificate under `~/.ssh` (the names OpenSSH pairs
 * automatically: `NAME-key`, `NAME-key.pub`, `NAME-key-cert.pub`), and the sign-in session under
 * `$XDG_CONFIG_HOME/airlock` (default `~/.config/airlock`), all mode 0600 in 0700 directories.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { mkdirSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import { AirlockError } from '../errors.ts';
import { writeFileAtomic } from '../files.ts';

export interface ClientSession {
  server: string;
  user: string;
  token: string;
  token_expires_at: string;
  key_path: string;
  certificate_path: string;
}

/** Paths of the key files for a key name (default `airlock`). */
export function keyPaths(name = 'airlock'): { key: string; pub: string; cert: string } {
  const key = join(homedir(), '.ssh', `${name}-key`);
  return { key, pub: `${key}.pub`, cert: `${key}-cert.pub` };
}

/** The CLI's state directory. */
export function stateDir(): string {
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'airlock');
}

const sessionPath = (): string => join(stateDir(), 'session.json');

/** Ensures a private directory exists (0700). */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** Saves the session (contains a bearer token: 0600). */
export function saveSession(s: ClientSession): void {
  ensurePrivateDir(stateDir());
  writeFileAtomic(sessionPath(), JSON.stringify(s, null, 2) + '\n', 0o600);
}

/** Loads the saved session, or undefined when there is none. */
export function loadSession(): ClientSession | undefined {
  let text: string;
  try {
    text = readFileSync(sessionPath(), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const s = JSON.parse(text) as ClientSession;
    if (typeof s.server !== 'string' || typeof s.token !== 'string') throw new Error('fields missing');
    return s;
  } catch {
    throw new AirlockError('config', `The session file ${sessionPath()} is damaged; run airlock logout, then airlock login.`);
  }
}

/** Loads the session or explains how to get one (`how`: the sign-in command to suggest). */
export function requireSession(how = 'airlock login --server URL --user NAME'): ClientSession {
  const s = loadSession();
  if (!s) throw new AirlockError('unauthenticated', `You are not signed in; run ${how}.`);
  return s;
}

/** Removes the saved session. */
export function clearSession(): void {
  rmSync(sessionPath(), { force: true });
}
