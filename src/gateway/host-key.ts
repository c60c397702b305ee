/**
 * The gateway's SSH host key: Ed25519, created on first start as `<data dir>/gateway/ssh_host_ed25519_key`
 * in OpenSSH format (what ssh2 loads and `ssh-keygen -l -f` reads), mode 0600, created with O_EXCL so that
 * two replicas starting at once on one data directory end up with the same key (as `src/ca/ca-keys.ts`).
 * Replicas behind one load balancer must share it, or clients see the host key change between them.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseListen, type Config } from '../config.ts';
import { AirlockError } from '../errors.ts';
import { fingerprintSha256 } from '../ssh/fingerprint.ts';
import { formatPublicKey, publicKeyFromKeyObject, type PublicKey } from '../ssh/keys.ts';
import { formatOpenSshPrivateKey, parseOpenSshPrivateKey } from '../ssh/private-key.ts';
import { randomart } from '../ssh/randomart.ts';

export interface HostKey {
  /** OpenSSH private key text, for ssh2's `hostKeys`. */
  privateKeyText: string;
  privateKey: KeyObject;
  publicKey: PublicKey;
  path: string;
}

/** Where the host key lives inside a data directory. */
export function hostKeyPath(dataDir: string): string {
  return join(dataDir, 'gateway', 'ssh_host_ed25519_key');
}

/** Loads the gateway host key, creating it on first use. Refuses a key that others can read. */
export function loadOrCreateHostKey(dataDir: string): HostKey {
  const path = hostKeyPath(dataDir);
  mkdirSync(join(dataDir, 'gateway'), { recursive: true, mode: 0o700 });
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const { privateKey } = generateKeyPairSync('ed25519');
    const out = formatOpenSshPrivateKey(privateKey, 'airlock-gateway');
    try {
      writeFileSync(path, out, { mode: 0o600, flag: 'wx' });
      chmodSync(path, 0o600);
      text = out;
    } catch (raceErr) {
      // Another process created it between our read and our write: use theirs.
      if ((raceErr as NodeJS.ErrnoException).code !== 'EEXIST') throw raceErr;
      text = readFileSync(path, 'utf8');
    }
  }
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    throw new AirlockError('config', `The gateway host key ${path} is readable by others (mode ${mode.toString(8)}); run chmod 600 on it and check who copied it.`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = parseOpenSshPrivateKey(text);
  } catch (cause) {
    throw new AirlockError('config', `Cannot read the gateway host key ${path}: a damaged file (move it away to create a new one, and tell users the fingerprint changed).`, { cause });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new AirlockError('config', `The gateway host key ${path} is not an Ed25519 key.`);
  return { privateKeyText: text, privateKey, publicKey: publicKeyFromKeyObject(privateKey, 'airlock-gateway'), path };
}

/** What users need to trust the gateway: endpoint, SHA256 fingerprint, randomart and a known_hosts line. */
export interface GatewayTrust {
  /** `HOST:PORT` users connect to, or null when the gateway is not running and no public address is set. */
  endpoint: string | null;
  host: string | null;
  port: number | null;
  hostKey: string;
  fingerprint: string;
  randomart: string;
  knownHostsLine: string | null;
}

/** The known_hosts host field: `host` for port 22, `[host]:port` otherwise (sshd(8) SSH_KNOWN_HOSTS FILE FORMAT). */
export function knownHostsHost(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/**
 * The gateway endpoint users connect to, as far as the configuration and a running service tell:
 * AIRLOCK_SSH_PUBLIC (its port, else the listener's), else endpoints.json of a running service, else
 * AIRLOCK_SSH_LISTEN unless its port is 0. Null when none is known.
 */
export function configuredGatewayEndpoint(config: Pick<Config, 'dataDir' | 'sshListen' | 'sshPublic'>): { host: string; port: number } | null {
  let running: { host: string; port: number } | null = null;
  try {
    const ep = (JSON.parse(readFileSync(join(config.dataDir, 'endpoints.json'), 'utf8')) as { ssh?: unknown }).ssh;
    if (typeof ep === 'string') running = parseListen(ep, 'endpoints.json ssh');
  } catch {
    running = null;
  }
  const listenPort = config.sshListen.port === 0 ? null : config.sshListen.port;
  if (config.sshPublic) {
    const port = config.sshPublic.port ?? running?.port ?? listenPort;
    return port === null ? null : { host: config.sshPublic.host, port };
  }
  if (running) return running;
  return listenPort === null ? null : { host: config.sshListen.host, port: listenPort };
}

/** `HOST:PORT`, IPv6 in brackets. */
export function formatEndpoint(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Builds the trust material for a host key and the public endpoint. */
export function gatewayTrust(publicKey: PublicKey, endpoint: { host: string; port: number } | null): GatewayTrust {
  const line = formatPublicKey(publicKey, '');
  return {
    endpoint: endpoint ? formatEndpoint(endpoint.host, endpoint.port) : null,
    host: endpoint?.host ?? null,
    port: endpoint?.port ?? null,
    hostKey: line,
    fingerprint: fingerprintSha256(publicKey.blob),
    randomart: randomart(publicKey),
    knownHostsLine: endpoint ? `${knownHostsHost(endpoint.host, endpoint.port)} ${line}` : null,
  };
}

/** The JSON form used by `GET /api/v1/gateway` and `airlock admin gateway-info --json`. */
export function gatewayTrustJson(t: GatewayTrust): Record<string, unknown> {
  return {
    ssh: t.endpoint,
    host: t.host,
    port: t.port,
    host_key: t.hostKey,
    fingerprint: t.fingerprint,
    randomart: t.randomart,
    known_hosts: t.knownHostsLine,
  };
}

/** The text form for people: endpoint, fingerprint, randomart, known_hosts line. */
export function gatewayTrustText(t: GatewayTrust): string {
  return [
    `SSH gateway:  ${t.endpoint ?? '(not running; set AIRLOCK_SSH_PUBLIC)'}`,
    `Host key:     ${t.hostKey}`,
    `Fingerprint:  ${t.fingerprint}`,
    t.randomart,
    ...(t.knownHostsLine ? ['', 'known_hosts line:', t.knownHostsLine] : []),
  ].join('\n');
}
