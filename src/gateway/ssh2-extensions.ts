/**
 * What the gateway adds to ssh2 1.17.0 through `patches/ssh2+1.17.0.patch` (applied at install by
 * scripts/apply-patches.mjs; docs/ssh2-extensions.md says what and why): a key exchange registry used
 * for `mlkem768x25519-sha256`, ready host key objects for the host certificate (signing the exchange
 * hash as plain `ssh-ed25519`), a configurable, comma-correct `server-sig-algs`, and agent channels
 * opened towards a client (`openAuthAgentChannel`, for the job proxy). This file is the
 * one place that knows the patch's API; it refuses to go on with any other ssh2 version or an
 * unpatched ssh2, so that an upgrade can never silently drop post-quantum key exchange.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Connection, ServerChannel, ServerConfig } from 'ssh2';
import { AirlockError } from '../errors.ts';
import { MLKEM768X25519_METHOD, MLKEM768X25519_SHA256, type ExternalKexMethod } from './kex-mlkem.ts';

const require = createRequire(import.meta.url);

/** The package's root: this file is src/gateway/ in a checkout and dist/gateway/ in an installed package. */
const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The one command that builds ssh2's native crypto for this Node and applies Airlock's ssh2 patch, with
 * this installation's absolute path. `npm ci` runs it as the postinstall script; npm skips install
 * scripts it was not told to allow (npm 11 for `npm install -g` without `--allow-scripts`, or
 * `--ignore-scripts`), and then the operator has to run it once by hand. It names this process's Node
 * binary, not `node`: the script builds the addon for the Node that runs it, and the `node` of the
 * operator's shell may be another version (an install on Node 24 next to the pinned 26, npx, systemd).
 */
export const SSH2_SETUP_COMMAND = `${JSON.stringify(process.execPath)} ${JSON.stringify(join(PACKAGE_ROOT, 'scripts', 'rebuild-native.mjs'))}`;

/** The ssh2 version the patch was written for; any other is refused. */
export const SSH2_PATCHED_VERSION = '1.17.0';

/**
 * The signature algorithms the gateway verifies for publickey login (auth.ts, ssh2-signature.ts), sent
 * as `server-sig-algs` (RFC 8308 §3.1) so that clients pick rsa-sha2-* for RSA keys. `ssh-rsa` (SHA-1)
 * and `ssh-dss` are refused by the gateway and so not listed; neither are security keys (sk-*).
 */
export const SERVER_SIG_ALGS: readonly string[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
];

/**
 * A host key as the patched ssh2 takes it in `hostKeys`: `type` is the host key algorithm it is
 * offered under, `getPublicSSH()` is K_S (a certificate blob for a host certificate), `sign()` signs
 * the exchange hash, and `signatureAlgo` names that signature in the key exchange reply.
 */
export interface Ssh2HostKeyProvider {
  readonly type: string;
  readonly signatureAlgo: string;
  getPublicSSH(): Buffer;
  sign(data: Buffer, hashAlgo?: string): Buffer | Error;
}

interface PatchedKexModule {
  registerKeyExchange?: (name: string, method: ExternalKexMethod) => void;
}

const ssh2Dir = dirname(require.resolve('ssh2/package.json'));

// Markers of the four patched files: a cheap start-up check (the full check, that the installed
// files are exactly ssh2 1.17.0 plus the patch, is ssh2-extensions.test.ts running
// scripts/apply-patches.mjs --dry-run).
const PATCH_MARKERS: readonly (readonly [string, string])[] = [
  ['lib/protocol/kex.js', 'function registerKeyExchange(name, method)'],
  ['lib/protocol/kex.js', 'this._hostKey.signatureAlgo'],
  ['lib/server.js', 'function isHostKeyProvider(val)'],
  ['lib/server.js', 'serverSigAlgs: srvCfg.serverSigAlgs'],
  ['lib/protocol/Protocol.js', 'let serverSigAlgs = proto._serverSigAlgs;'],
  ['lib/server.js', 'kexinitReplyDelay: srvCfg.kexinitReplyDelay'],
  ['lib/protocol/Protocol.js', 'this._kexinitReplyDelay = config.kexinitReplyDelay;'],
  ['lib/protocol/Protocol.js', 'parseBorrowed(chunk, i, len) {'],
  ['lib/protocol/Protocol.js', 'interceptChannelData(fn) {'],
  ['lib/protocol/kex.js', 'payload = Buffer.from(payload);'],
  ['lib/server.js', "openChannel(this, 'auth-agent@openssh.com', cb);"],
  ['lib/protocol/Protocol.js', 'reuseOutputBuffer(writtenOut) {'],
  ['lib/protocol/crypto.js', 'function randomPadding(packet, offset, len) {'],
];

/** What is wrong with the installed ssh2, or undefined when it is 1.17.0 with Airlock's patch. */
export function ssh2ExtensionProblem(): string | undefined {
  const version = (require('ssh2/package.json') as { version?: string }).version;
  if (version !== SSH2_PATCHED_VERSION) {
    return `ssh2 ${String(version)} is installed, but the gateway's extensions (patches/ssh2+${SSH2_PATCHED_VERSION}.patch) are written for ${SSH2_PATCHED_VERSION}; see docs/ssh2-extensions.md, "Upgrading ssh2"`;
  }
  for (const [file, marker] of PATCH_MARKERS) {
    let text: string;
    try {
      text = readFileSync(join(ssh2Dir, file), 'utf8');
    } catch {
      return `cannot read node_modules/ssh2/${file}`;
    }
    if (!text.includes(marker)) {
      return `node_modules/ssh2/${file} lacks Airlock's patch (npm skipped the install scripts); run: ${SSH2_SETUP_COMMAND}`;
    }
  }
  const kex = require('ssh2/lib/protocol/kex.js') as PatchedKexModule;
  if (typeof kex.registerKeyExchange !== 'function') return 'ssh2 has no registerKeyExchange (patch not applied)';
  return undefined;
}

/**
 * Whether ssh2's native crypto addon loads in this Node. Without it ssh2 falls back to JavaScript
 * crypto: the gateway works, but chacha20-poly1305 costs it about 2.3 times the CPU.
 */
export function ssh2NativeCryptoLoaded(): boolean {
  try {
    require('ssh2/lib/protocol/crypto/build/Release/sshcrypto.node');
    return true;
  } catch {
    return false;
  }
}

let installed = false;

/**
 * Checks the patched ssh2 and registers `mlkem768x25519-sha256` with it (once per process). Must run
 * before an ssh2 Server is constructed: ssh2 checks configured algorithm names at construction.
 * Throws a config error when ssh2 is not the patched 1.17.0.
 */
export function installSsh2Extensions(): void {
  if (installed) return;
  const problem = ssh2ExtensionProblem();
  if (problem !== undefined) throw new AirlockError('config', `The SSH gateway cannot start: ${problem}.`);
  const kex = require('ssh2/lib/protocol/kex.js') as Required<PatchedKexModule>;
  kex.registerKeyExchange(MLKEM768X25519_SHA256, MLKEM768X25519_METHOD);
  installed = true;
}

/**
 * How long the server waits for the client's KEXINIT before sending its own. OpenSSH clients send
 * theirs at once, so in practice the server's KEXINIT goes out with the reply to the client's — and
 * carries the TCP acknowledgement the client's Nagle-delayed KEX_ECDH_INIT is waiting for (without
 * this, every other connection lost ~40 ms to Linux's delayed ACK; docs/performance.md). The timer
 * is for clients that wait for the server to speak first (RFC 4253 §7.1 lets either side go first).
 */
export const KEXINIT_REPLY_DELAY_MS = 50;

/**
 * An ssh2 ServerConfig with the extensions' options: host key objects (offered before the plain keys
 * in `cfg.hostKeys`), `server-sig-algs`, and KEXINIT sent in reply to the client's (after at most
 * `kexinitReplyDelayMs`). Call installSsh2Extensions() first.
 */
export function extendServerConfig(
  cfg: ServerConfig,
  ext: { hostKeyProviders: readonly Ssh2HostKeyProvider[]; serverSigAlgs: readonly string[]; kexinitReplyDelayMs?: number },
): ServerConfig {
  // The typings of ssh2 know none of these options; the patch does (lib/server.js, lib/protocol/Protocol.js).
  const hostKeys = [...ext.hostKeyProviders, ...cfg.hostKeys] as unknown as ServerConfig['hostKeys'];
  return {
    ...cfg, hostKeys, serverSigAlgs: [...ext.serverSigAlgs], kexinitReplyDelay: ext.kexinitReplyDelayMs ?? KEXINIT_REPLY_DELAY_MS,
  } as ServerConfig;
}

/** The server connection method the patch adds (lib/server.js); ssh2's typings do not know it. */
interface PatchedServerConnection {
  openssh_authAgent(cb: (err: Error | undefined, channel: ServerChannel) => void): unknown;
}

/**
 * Opens an `auth-agent@openssh.com` channel to the client of `conn` (its ssh-agent, forwarded): what
 * sshd does for each connection to `SSH_AUTH_SOCK`. Only after the client sent
 * `auth-agent-req@openssh.com` on a session: OpenSSH refuses the channel otherwise.
 */
export function openAuthAgentChannel(conn: Connection, cb: (err: Error | undefined, channel: ServerChannel) => void): void {
  (conn as unknown as PatchedServerConnection).openssh_authAgent(cb);
}
