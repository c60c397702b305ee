/** A real OpenSSH ssh-agent for tests, holding one fresh ed25519 key; the test stops it. */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fingerprintSha256 } from '../../src/ssh/fingerprint.ts';
import { parsePublicKey } from '../../src/ssh/keys.ts';
import { run, waitFor } from './processes.ts';

export interface TestAgent {
  /** SSH_AUTH_SOCK for clients of this agent. */
  sock: string;
  /** The held key's SHA256 fingerprint, as `ssh-add -l` prints it. */
  fingerprint: string;
  /** The key's comment (`ssh-add -l` prints it after the fingerprint). */
  comment: string;
  stop(): void;
}

/** Starts `ssh-agent -D` with its socket in `dir` and adds a new key commented `name`. */
export async function startSshAgent(dir: string, name: string): Promise<TestAgent> {
  const sock = join(dir, `${name}.sock`);
  const key = join(dir, `${name}_ed25519`);
  const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  try {
    await waitFor('ssh-agent', () => (existsSync(sock) ? true : undefined), 10_000);
    const kg = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', key]);
    if (kg.code !== 0) throw new Error(`ssh-keygen: ${kg.stderr}`);
    const added = await run('ssh-add', [key], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
    if (added.code !== 0) throw new Error(`ssh-add: ${added.stderr}`);
  } catch (err) {
    agent.kill();
    throw err;
  }
  const fingerprint = fingerprintSha256(parsePublicKey(readFileSync(`${key}.pub`, 'utf8').trim()).blob);
  return { sock, fingerprint, comment: name, stop: () => agent.kill() };
}
