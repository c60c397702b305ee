/**
 * `airlock keys add|list|remove`: the researcher's public keys in Airlock's key registry, through
 * the HTTP API with the saved session. Registered keys go onto the project VMs that orchestrators
 * create (authorized_keys / cloud-init), and onto the gateway where the operator allows key login.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { AirlockError } from '../errors.ts';
import { formatPublicKey } from '../ssh/keys.ts';
import { parseRfc4716PublicKeys } from '../ssh/rfc4716.ts';
import { apiRequest } from './api-client.ts';
import { requireSession } from './client-state.ts';
import { out, outJson, say, table } from './output.ts';

export interface KeyJson {
  fingerprint: string;
  type: string;
  bits: number;
  comment: string;
  public_key: string;
  created_at: string;
}

/** Renders registered keys as a table. */
export function keysTable(keys: KeyJson[]): string {
  return table(['FINGERPRINT', 'TYPE', 'BITS', 'COMMENT', 'ADDED'], keys.map((k) => [k.fingerprint, k.type, String(k.bits), k.comment || '-', k.created_at.replace(/\.\d+Z$/, 'Z')]));
}

function readKeyFile(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (cause) {
    throw new AirlockError('bad_request', `Cannot read ${file}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}.`, { cause });
  }
}

/** `dir/name.ppk` → `dir/name.pub`: where to save the public half PuTTYgen shows. */
function publicNameFor(file: string): string {
  return file === '-' ? 'KEY.pub' : `${file.replace(/\.ppk$/i, '')}.pub`;
}

/**
 * The key lines of a .pub or authorized_keys file (blank lines and # comments skipped), and of the
 * SSH2 public-key files (RFC 4716) that PuTTYgen's "Save public key" writes, as OpenSSH lines. A
 * private key is refused here, before anything is sent: it must never leave this machine.
 */
export function keyLinesOf(text: string, file: string): string[] {
  if (/PuTTY-User-Key-File-/.test(text)) {
    // PuTTYgen writes no .pub next to a .ppk: say where its public key is shown and how to save it.
    const pub = publicNameFor(file);
    throw new AirlockError('invalid_key', `${file} is a PuTTY private key; nothing was sent. Load it in PuTTYgen and copy the box "Public key for pasting into OpenSSH authorized_keys file" into ${pub} (or press "Save public key", or run puttygen ${file} -O public-openssh -o ${pub}), then run airlock keys add ${pub}.`);
  }
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----/.test(text)) {
    const hint = file === '-' ? 'the .pub file' : `${file}.pub`;
    throw new AirlockError('invalid_key', `${file} is a private key; nothing was sent. Give the public key instead (${hint}).`);
  }
  let ssh2: ReturnType<typeof parseRfc4716PublicKeys>;
  try {
    ssh2 = parseRfc4716PublicKeys(text);
  } catch (err) {
    throw new AirlockError('invalid_key', `${file}: ${(err as Error).message}.`, { cause: err });
  }
  const lines = [
    ...ssh2.keys.map((k) => formatPublicKey(k)),
    ...ssh2.rest.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')),
  ];
  if (lines.length === 0) throw new AirlockError('invalid_key', `${file} holds no public key.`);
  return lines;
}

/** Key management needs a session but no certificate: the sign-in that spends none of the daily quota. */
const KEYS_SIGN_IN = 'airlock login --server URL --user NAME --no-certificate (signs you in without issuing a certificate)';

/** Registers `keys`. */
export function registerKeysCommands(program: Command): void {
  const keys = program.command('keys').description('Your public keys in Airlock\'s key registry (for project VMs and, where enabled, the gateway)');
  keys
    .command('add')
    .description('Register the public key(s) in FILE (a .pub file, or - for standard input)')
    .argument('<file>', 'public key file, e.g. ~/.ssh/id_ed25519.pub')
    .option('--json', 'print the registered keys as JSON')
    .addHelpText('after', `
FILE may be an OpenSSH .pub or authorized_keys file, or the SSH2 public key file (RFC 4716,
"---- BEGIN SSH2 PUBLIC KEY ----") that PuTTYgen's "Save public key" writes. A PuTTYgen .ppk is the
private key: PuTTYgen writes no .pub next to it; load it in PuTTYgen and save the public key, or copy
the box "Public key for pasting into OpenSSH authorized_keys file" into a file.
DSA keys and RSA keys under 2048 bits are refused.

Examples:
  airlock keys add ~/.ssh/id_ed25519.pub
  airlock keys add mykey.pub            # saved by PuTTYgen ("Save public key")
  ssh-keygen -y -f ~/.ssh/id_ed25519 | airlock keys add -`)
    .action(async (file: string, opts: { json?: boolean }) => {
      const lines = keyLinesOf(readKeyFile(file), file);
      const s = requireSession(KEYS_SIGN_IN);
      const added: KeyJson[] = [];
      for (const line of lines) added.push(await apiRequest<KeyJson>({ server: s.server, token: s.token }, 'POST', '/api/v1/keys', { public_key: line }));
      if (opts.json) outJson(added);
      else out(keysTable(added));
      say(`Registered ${added.length} key(s).`);
    });
  keys
    .command('list')
    .description('List your registered keys')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  airlock keys list')
    .action(async (opts: { json?: boolean }) => {
      const s = requireSession(KEYS_SIGN_IN);
      const { keys: list } = await apiRequest<{ keys: KeyJson[] }>({ server: s.server, token: s.token }, 'GET', '/api/v1/keys');
      if (opts.json) outJson(list);
      else if (list.length === 0) say('No keys registered; add one with airlock keys add ~/.ssh/id_ed25519.pub.');
      else out(keysTable(list));
    });
  keys
    .command('remove')
    .description('Remove one of your keys by its fingerprint (as airlock keys list shows it)')
    .argument('<fingerprint>', 'SHA256:…')
    .option('--json', 'print {"removed": FINGERPRINT} as JSON')
    .addHelpText('after', '\nExample:\n  airlock keys remove SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s')
    .action(async (fingerprint: string, opts: { json?: boolean }) => {
      const s = requireSession(KEYS_SIGN_IN);
      const { removed } = await apiRequest<{ removed: string }>({ server: s.server, token: s.token }, 'DELETE', `/api/v1/keys/${encodeURIComponent(fingerprint)}`);
      if (opts.json) outJson({ removed });
      say(`Removed ${removed}.`);
    });
}
