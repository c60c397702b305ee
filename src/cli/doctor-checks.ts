/**
 * The checks of `airlock doctor`, one small function each, answering the SSH FAQ of the platforms'
 * guides (CSCS: too many authentication failures, permission denied = expired key, agent not
 * running, port already in use; DSMLP: connection refused = wrong port): each finding says what is
 * wrong, why it matters, and the exact command that fixes it. Checks never change anything.
 */
import { spawnSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { formatDuration } from '../duration.ts';
import { parseCertificate, type Certificate } from '../ssh/certificate.ts';
import { fingerprintSha256 } from '../ssh/fingerprint.ts';
import { parsePublicKey, publicKeyFromKeyObject } from '../ssh/keys.ts';
import { parseOpenSshPrivateKey } from '../ssh/private-key.ts';
import type { ClientSession } from './client-state.ts';
import { isPortFree } from './local-ports.ts';
import { fetchCaKeys, fetchGatewayInfo, fetchTargets, preferredLocalPort, type GatewayInfo, type TargetInfo } from './platform-info.ts';
import { GATEWAY_ALIAS, hostBlocks, knownHostsHost, sshConfigPaths } from './ssh-config.ts';
import { analyseInclude } from './ssh-include.ts';
import { certificateRevocation } from './revocation-status.ts';
import { checkTargets } from './doctor-targets.ts';
import { effectiveSshConfig, isRecentEnough, localSshVersion, MIN_OPENSSH } from './system-ssh.ts';

export type CheckName =
  | 'ssh-client' | 'agent' | 'agent-keys' | 'session' | 'certificate' | 'server' | 'clock'
  | 'gateway-reachable' | 'gateway-host-key' | 'include' | 'ssh-config' | 'config-current' | 'local-ports'
  | 'targets';

export type Status = 'ok' | 'warn' | 'fail' | 'skip';

export interface Finding {
  check: CheckName;
  status: Status;
  /** What was found, one sentence. */
  what: string;
  /** Why it matters (what the user sees otherwise). */
  why: string | null;
  /** The exact command or step that fixes it. */
  fix: string | null;
}

export interface DoctorContext {
  now: () => number;
  home: string;
  env: NodeJS.ProcessEnv;
  session: ClientSession | undefined;
  keyName: string;
  /** Local ports the user asked about (`--port`). */
  ports: number[];
  /** Memoised look-ups shared by checks (one request or process each). */
  memo: Map<string, Promise<unknown>>;
}

/** Agents usually hold more keys than servers allow attempts (OpenSSH MaxAuthTries 6, the gateway's too). */
export const MAX_AGENT_KEYS = 5;
/** Beyond this the clock is wrong enough for TOTP codes (30 s steps) to be refused. */
export const CLOCK_WARN_MS = 15_000;
export const CLOCK_FAIL_MS = 60_000;
const EXPIRY_WARN_MS = 3_600_000;
const NETWORK_TIMEOUT_MS = 10_000;

const finding = (check: CheckName, status: Status, what: string, why: string | null = null, fix: string | null = null): Finding => ({ check, status, what, why, fix });

function once<T>(ctx: DoctorContext, key: string, f: () => Promise<T>): Promise<T> {
  let p = ctx.memo.get(key) as Promise<T> | undefined;
  if (!p) {
    p = f();
    ctx.memo.set(key, p);
  }
  return p;
}

type Fetched<T> = { ok: true; value: T } | { ok: false; error: string };

async function settle<T>(p: Promise<T>): Promise<Fetched<T>> {
  try {
    return { ok: true, value: await p };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

const gatewayInfo = (ctx: DoctorContext) => once(ctx, 'gateway', () => settle(fetchGatewayInfo(ctx.session!.server)));
const targets = (ctx: DoctorContext) => once(ctx, 'targets', () => settle(fetchTargets(ctx.session!)));
const caKeys = (ctx: DoctorContext) => once(ctx, 'ca', () => settle(fetchCaKeys(ctx.session!.server)));
const loginCommand = (ctx: DoctorContext): string => (ctx.session ? `airlock login --server ${ctx.session.server} --user ${ctx.session.user}` : 'airlock login --server URL --user NAME');

// ---- the local ssh client ----------------------------------------------------------------------

/** OpenSSH present and new enough for certificates (7.2) and ProxyJump (7.3). */
export async function checkSshClient(_ctx: DoctorContext): Promise<Finding[]> {
  const v = localSshVersion();
  const install = 'Install OpenSSH: sudo apt install openssh-client (Debian, Ubuntu), sudo dnf install openssh-clients (Fedora, RHEL), brew install openssh (macOS); on Windows use PuTTY ≥ 0.78 (airlock putty) or Settings > Apps > Optional features > OpenSSH Client.';
  if (v.kind === 'missing') return [finding('ssh-client', 'fail', 'No ssh command was found on PATH.', 'Airlock connects through your system\'s OpenSSH client.', install)];
  if (v.kind === 'unknown') return [finding('ssh-client', 'warn', `ssh -V printed something unexpected: ${JSON.stringify(v.output)}.`, 'The generated config is written for OpenSSH; other clients may read it differently.', null)];
  const { version } = v;
  if (version.product !== 'OpenSSH') return [finding('ssh-client', 'warn', `ssh is ${version.text}, not OpenSSH.`, 'The generated config is written for OpenSSH; other clients may read it differently.', null)];
  if (!isRecentEnough(version)) {
    return [finding('ssh-client', 'fail', `ssh is OpenSSH ${version.major}.${version.minor}, older than ${MIN_OPENSSH.major}.${MIN_OPENSSH.minor}.`,
      'Certificates (CertificateFile) need OpenSSH 7.2 and ProxyJump needs 7.3: the generated config does not work with this client.', `Update OpenSSH. ${install}`)];
  }
  return [finding('ssh-client', 'ok', `OpenSSH ${version.major}.${version.minor} (certificates and ProxyJump need ${MIN_OPENSSH.major}.${MIN_OPENSSH.minor}).`)];
}

// ---- ssh-agent ---------------------------------------------------------------------------------

type AgentState = { kind: 'unset' } | { kind: 'no-ssh-add' } | { kind: 'unreachable'; socket: string } | { kind: 'running'; keys: string[] };

function agentState(ctx: DoctorContext): Promise<AgentState> {
  return once(ctx, 'agent', async (): Promise<AgentState> => {
    const socket = ctx.env.SSH_AUTH_SOCK;
    if (!socket) return { kind: 'unset' };
    const r = spawnSync('ssh-add', ['-l'], { env: ctx.env, encoding: 'utf8', timeout: NETWORK_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.error) return { kind: 'no-ssh-add' };
    // ssh-add(1): exit 1 = the agent has no identities, 2 = it cannot be contacted.
    if (r.status === 0) return { kind: 'running', keys: r.stdout.split('\n').filter((l) => l.trim() !== '') };
    if (r.status === 1) return { kind: 'running', keys: [] };
    return { kind: 'unreachable', socket };
  });
}

/** ssh-agent reachable (the CSCS FAQ: "Could not open a connection to your authentication agent"). */
export async function checkAgent(ctx: DoctorContext): Promise<Finding[]> {
  const a = await agentState(ctx);
  const start = 'eval "$(ssh-agent)"   (then: ssh-add -t 1d ' + (ctx.session?.key_path ?? join(ctx.home, '.ssh', `${ctx.keyName}-key`)) + ')';
  switch (a.kind) {
    case 'unset':
      return [finding('agent', 'warn', 'ssh-agent is not running (SSH_AUTH_SOCK is not set).',
        'The generated config names your key file, so ssh works without an agent; but ssh-add and airlock login --agent fail with "Could not open a connection to your authentication agent".', start)];
    case 'no-ssh-add':
      return [finding('agent', 'skip', 'ssh-add was not found, so the agent was not checked.')];
    case 'unreachable':
      return [finding('agent', 'fail', `ssh-agent is not running: nothing answers at SSH_AUTH_SOCK=${a.socket} (the agent was stopped, or this shell belongs to an old session).`,
        'ssh-add fails with "Could not open a connection to your authentication agent", and keys you added are gone.', start)];
    case 'running':
      return [finding('agent', 'ok', `ssh-agent is running with ${a.keys.length} key(s).`)];
  }
}

/** Not more keys in the agent than servers allow attempts (CSCS FAQ: "Too many authentication failures"). */
export async function checkAgentKeys(ctx: DoctorContext): Promise<Finding[]> {
  const a = await agentState(ctx);
  if (a.kind !== 'running') return [];
  if (a.keys.length > MAX_AGENT_KEYS) {
    return [finding('agent-keys', 'warn', `ssh-agent holds ${a.keys.length} keys.`,
      'ssh offers agent keys one after another and servers hang up after about 6 attempts: "Too many authentication failures". Airlock\'s hosts set IdentitiesOnly and are safe, but other hosts and hand-typed commands are not.',
      'ssh-add -D   (empties the agent; then add back only what you need, e.g. ssh-add -t 1d ~/.ssh/airlock-key)')];
  }
  return [finding('agent-keys', 'ok', `ssh-agent holds ${a.keys.length} key(s), at most ${MAX_AGENT_KEYS}.`)];
}

// ---- sign-in and certificate -------------------------------------------------------------------

/** Signed in, and the session still valid. */
export async function checkSession(ctx: DoctorContext): Promise<Finding[]> {
  const s = ctx.session;
  if (!s) return [finding('session', 'fail', 'You are not signed in on this machine.', 'airlock config, hosts and tunnel need a sign-in, and the gateway needs your certificate.', loginCommand(ctx))];
  const ends = Date.parse(s.token_expires_at);
  if (Number.isFinite(ends) && ends <= ctx.now()) {
    return [finding('session', 'warn', `Your Airlock sign-in ended at ${s.token_expires_at}.`,
      'airlock config, hosts and tunnel need it; your certificate keeps working until it expires.', loginCommand(ctx))];
  }
  return [finding('session', 'ok', `Signed in as ${s.user} at ${s.server}.`)];
}

/** The certificate: present, readable, belongs to the key, issued by this server's CA, valid now. */
export async function checkCertificate(ctx: DoctorContext): Promise<Finding[]> {
  const keyPath = ctx.session?.key_path ?? join(ctx.home, '.ssh', `${ctx.keyName}-key`);
  const certPath = ctx.session?.certificate_path ?? `${keyPath}-cert.pub`;
  const denied = 'The gateway then refuses you: ssh ends with "Permission denied (publickey)".';
  if (!existsSync(keyPath)) return [finding('certificate', 'fail', `There is no key at ${keyPath}.`, denied, loginCommand(ctx))];
  if ((statSync(keyPath).mode & 0o077) !== 0) {
    return [finding('certificate', 'fail', `The key ${keyPath} can be read by other users.`, 'ssh refuses such a key ("UNPROTECTED PRIVATE KEY FILE!").', `chmod 600 ${keyPath}`)];
  }
  if (!existsSync(certPath)) return [finding('certificate', 'fail', `There is no certificate at ${certPath}.`, denied, loginCommand(ctx))];
  let cert: Certificate;
  try {
    cert = parseCertificate(readFileSync(certPath, 'utf8'));
  } catch (err) {
    return [finding('certificate', 'fail', `The certificate ${certPath} cannot be read (${(err as Error).message}).`, denied, loginCommand(ctx))];
  }
  const out: Finding[] = [];
  try {
    const pub = publicKeyFromKeyObject(createPublicKey(parseOpenSshPrivateKey(readFileSync(keyPath, 'utf8'))));
    if (!pub.blob.equals(cert.publicKey.blob)) out.push(finding('certificate', 'fail', `The certificate ${certPath} is for another key than ${keyPath}.`, denied, loginCommand(ctx)));
  } catch (err) {
    out.push(finding('certificate', 'warn', `The key ${keyPath} could not be read here (${(err as Error).message}); if it has a passphrase that is fine.`));
  }
  const now = ctx.now();
  const after = Number(cert.validAfter) * 1000;
  const before = Number(cert.validBefore) * 1000;
  const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');
  if (before <= now) {
    out.push(finding('certificate', 'fail', `Your certificate ${cert.serial} expired at ${iso(before)} (${formatDuration(now - before)} ago).`,
      `Certificates are short-lived; an expired one is refused. ${denied}`, loginCommand(ctx)));
  } else if (after > now) {
    out.push(finding('certificate', 'fail', `Your certificate ${cert.serial} is not valid before ${iso(after)}.`,
      'This machine\'s clock is probably behind (see the clock check); certificates are back-dated by one minute only.',
      'Set the clock right: sudo timedatectl set-ntp true (Linux); macOS and Windows: set the date and time automatically in the system settings.'));
  } else if (before - now < EXPIRY_WARN_MS) {
    out.push(finding('certificate', 'warn', `Your certificate expires in ${formatDuration(before - now)} (at ${iso(before)}).`, 'After that the gateway refuses it.', loginCommand(ctx)));
  }
  if (ctx.session) {
    const ca = await caKeys(ctx);
    if (ca.ok) {
      try {
        if (!parsePublicKey(ca.value.userCa).blob.equals(cert.signatureKey.blob)) {
          out.push(finding('certificate', 'fail', `Your certificate was not issued by the CA of ${ctx.session.server}.`,
            `It comes from another Airlock server or an older CA; ${denied}`, loginCommand(ctx)));
        }
      } catch {
        // An unreadable CA key from the server is reported by the server check's callers, not here.
      }
    }
  }
  // Revocation: only for a certificate that is otherwise in force (the KRL lists unexpired ones only).
  let unchecked: Finding | undefined;
  if (ctx.session && before > now) {
    const r = await certificateRevocation(ctx.session.server, cert);
    if (r.state === 'revoked') {
      out.push(finding('certificate', 'fail', `Your certificate ${cert.serial} has been revoked.`,
        `The gateway and every node that reads the revocation list refuse it; signing in again issues a new one. ${denied}`, loginCommand(ctx)));
    } else if (r.state === 'unknown') {
      unchecked = finding('certificate', 'warn', `Whether your certificate ${cert.serial} has been revoked could not be checked (${r.reason}).`,
        'If it was revoked, the gateway refuses it even though it has not expired.', 'Run airlock doctor again when the Airlock server is reachable.');
    }
  }
  if (out.length === 0) out.push(finding('certificate', 'ok', `Certificate ${cert.serial} for ${cert.principals.join(', ')} is valid until ${iso(before)} (${formatDuration(before - now)} left)${ctx.session && !unchecked ? ' and not revoked' : ''}.`));
  if (unchecked) out.push(unchecked);
  return out;
}

// ---- the server and the clock ------------------------------------------------------------------

type Probe = { ok: true; serverDate: number | null; sent: number; received: number } | { ok: false; error: string };

function serverProbe(ctx: DoctorContext): Promise<Probe> {
  return once(ctx, 'server', async (): Promise<Probe> => {
    const sent = ctx.now();
    try {
      const res = await fetch(new URL('/healthz', ctx.session!.server), { signal: AbortSignal.timeout(NETWORK_TIMEOUT_MS) });
      const received = ctx.now();
      await res.arrayBuffer();
      if (!res.ok) return { ok: false, error: `it answered ${res.status} ${res.statusText}` };
      const date = res.headers.get('date');
      const parsed = date === null ? NaN : Date.parse(date);
      return { ok: true, serverDate: Number.isFinite(parsed) ? parsed : null, sent, received };
    } catch (err) {
      const e = err as Error & { cause?: Error };
      return { ok: false, error: e.cause?.message ?? e.message };
    }
  });
}

/** The Airlock server answers. */
export async function checkServer(ctx: DoctorContext): Promise<Finding[]> {
  if (!ctx.session) return [finding('server', 'skip', 'Not signed in: no server to check.')];
  const p = await serverProbe(ctx);
  if (!p.ok) {
    return [finding('server', 'fail', `The Airlock server ${ctx.session.server} cannot be reached (${p.error}).`,
      'airlock login, config, hosts and tunnel need it (ssh through the gateway does not).', 'Check your network or VPN, and the server address; try: curl ' + new URL('/healthz', ctx.session.server).href)];
  }
  return [finding('server', 'ok', `The Airlock server ${ctx.session.server} answers.`)];
}

/** The skew between this machine's clock and the server's, from the HTTP Date header (1 s resolution). */
export function clockSkewMs(p: { serverDate: number; sent: number; received: number }): number {
  // The Date header is truncated to the second: compare with the middle of that second and of the round trip.
  return (p.sent + p.received) / 2 - (p.serverDate + 500);
}

/** This machine's clock against the server's. */
export async function checkClockSkew(ctx: DoctorContext): Promise<Finding[]> {
  if (!ctx.session) return [];
  const p = await serverProbe(ctx);
  if (!p.ok) return [finding('clock', 'skip', 'The server could not be reached, so the clock was not compared.')];
  if (p.serverDate === null) return [finding('clock', 'skip', 'The server sent no Date header, so the clock was not compared.')];
  const skew = clockSkewMs({ serverDate: p.serverDate, sent: p.sent, received: p.received });
  const slack = (p.received - p.sent) / 2 + 500;
  const off = Math.abs(skew) - slack;
  const fix = 'Turn on automatic time: sudo timedatectl set-ntp true (Linux); macOS: System Settings > General > Date & Time; Windows: Settings > Time & language > Date & time > Sync now.';
  const what = `This machine's clock is ${formatDuration(Math.abs(skew))} ${skew > 0 ? 'ahead of' : 'behind'} the server's.`;
  if (off > CLOCK_FAIL_MS) return [finding('clock', 'fail', what, 'One-time codes are refused at sign-in, and certificates look expired or not yet valid here.', fix)];
  if (off > CLOCK_WARN_MS) return [finding('clock', 'warn', what, 'One-time codes change every 30 s; a clock this far off makes sign-in fail at times.', fix)];
  return [finding('clock', 'ok', 'This machine\'s clock agrees with the server\'s.')];
}

// ---- the gateway -------------------------------------------------------------------------------

type Presented = { ok: true; blob: Buffer } | { ok: false; code: string | undefined; error: string };

/** Connects to the gateway with ssh2 only as far as the host key (no authentication is attempted). */
export async function presentedHostKey(host: string, port: number, timeoutMs = NETWORK_TIMEOUT_MS): Promise<Presented> {
  // Loaded here, not at the top: every other command would pay for ssh2's start-up otherwise.
  const { default: ssh2 } = await import('ssh2');
  return new Promise((resolve) => {
    const client = new ssh2.Client();
    let seen: Buffer | null = null;
    let settled = false;
    const done = (p: Presented): void => {
      if (settled) return;
      settled = true;
      client.end();
      resolve(p);
    };
    client.on('error', (err: Error & { code?: string; level?: string }) => {
      if (seen) done({ ok: true, blob: seen });
      else done({ ok: false, code: err.code, error: err.message });
    });
    client.on('close', () => done(seen ? { ok: true, blob: seen } : { ok: false, code: undefined, error: 'the connection closed before a key exchange' }));
    client.connect({
      host, port, username: 'airlock-doctor', readyTimeout: timeoutMs,
      // Refusing the key ends the connection right after the key exchange: nothing is authenticated.
      hostVerifier: (key: Buffer) => {
        seen = Buffer.from(key);
        return false;
      },
    });
  });
}

const presented = (ctx: DoctorContext, g: GatewayInfo) => once(ctx, 'presented', () => presentedHostKey(g.host, g.port));

/** The gateway answers SSH on its published address. */
export async function checkGatewayReachable(ctx: DoctorContext): Promise<Finding[]> {
  if (!ctx.session) return [];
  const g = await gatewayInfo(ctx);
  if (!g.ok) {
    if (!(await serverProbe(ctx)).ok) return [finding('gateway-reachable', 'skip', 'The server could not be reached, so the gateway\'s address is unknown.')];
    return [finding('gateway-reachable', 'fail', `The server does not say where its gateway is (${g.error}).`, 'Without it, no ssh config can be written.', 'Ask your operator; airlock config shows the same error.')];
  }
  const p = await presented(ctx, g.value);
  if (p.ok) return [finding('gateway-reachable', 'ok', `The gateway at ${g.value.host} port ${g.value.port} answers.`)];
  const why = 'ssh cannot reach any target: they are all behind the gateway.';
  const tryIt = `Check your network or VPN, then try: ssh -v ${GATEWAY_ALIAS}`;
  if (p.code === 'ECONNREFUSED') return [finding('gateway-reachable', 'fail', `Nothing answers at ${g.value.host} port ${g.value.port} (connection refused): the gateway is down or the port is wrong.`, why, tryIt)];
  if (p.code === 'ENOTFOUND' || p.code === 'EAI_AGAIN') return [finding('gateway-reachable', 'fail', `The gateway's name ${g.value.host} cannot be resolved.`, why, tryIt)];
  return [finding('gateway-reachable', 'fail', `The gateway at ${g.value.host} port ${g.value.port} cannot be reached (${p.error}).`, `${why} A firewall or a missing VPN connection is the usual cause.`, tryIt)];
}

/** The key the gateway presents = the key the server publishes = the key in the generated known_hosts. */
export async function checkGatewayHostKey(ctx: DoctorContext): Promise<Finding[]> {
  if (!ctx.session) return [];
  const g = await gatewayInfo(ctx);
  if (!g.ok) return [];
  const p = await presented(ctx, g.value);
  let published: Buffer;
  try {
    published = parsePublicKey(g.value.hostKey).blob;
  } catch {
    return [finding('gateway-host-key', 'fail', 'The server publishes an unreadable gateway host key.', null, 'Tell your operator.')];
  }
  const fp = (b: Buffer): string => fingerprintSha256(b);
  const out: Finding[] = [];
  if (p.ok && !p.blob.equals(published)) {
    out.push(finding('gateway-host-key', 'fail', `The gateway presented host key ${fp(p.blob)}, but the Airlock server publishes ${fp(published)}.`,
      'Someone may be intercepting your connection (or the operator runs gateways with different keys). ssh refuses to connect, and it is right to.',
      `Do not connect. Tell your operator both fingerprints (published: ${fp(published)}, seen: ${fp(p.blob)}).`));
    return out;
  }
  const paths = sshConfigPaths(ctx.home);
  let text: string | null = null;
  try {
    text = readFileSync(paths.knownHosts, 'utf8');
  } catch {
    text = null;
  }
  const hostField = knownHostsHost(g.value.host, g.value.port);
  const line = text?.split('\n').find((l) => l.startsWith(`${hostField} `));
  if (!line) {
    out.push(finding('gateway-host-key', 'fail', `${paths.knownHosts} has no key for the gateway ${hostField}.`,
      'ssh cannot check the gateway and refuses it (StrictHostKeyChecking) or asks you to trust it blindly.', 'airlock config'));
    return out;
  }
  let known: Buffer | null = null;
  try {
    known = parsePublicKey(line.slice(hostField.length + 1)).blob;
  } catch {
    known = null;
  }
  if (known === null || !known.equals(published)) {
    out.push(finding('gateway-host-key', 'fail', `The gateway's host key changed: your known_hosts has ${known ? fp(known) : 'an unreadable key'}, the gateway and the server now have ${fp(published)}.`,
      'ssh refuses to connect ("REMOTE HOST IDENTIFICATION HAS CHANGED"). Since the server publishes the new key too, the operator has replaced it.',
      'airlock config   (writes the published key into your known_hosts)'));
    return out;
  }
  out.push(finding('gateway-host-key', 'ok', `The gateway's host key ${fp(published)} matches the published one${p.ok ? '' : ' (the gateway itself could not be asked)'}.`));
  return out;
}

// ---- the ssh configuration ---------------------------------------------------------------------

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** `~/.ssh/config` includes the generated file, first. */
export async function checkInclude(ctx: DoctorContext): Promise<Finding[]> {
  const paths = sshConfigPaths(ctx.home);
  if (readText(paths.config) === null) {
    return [finding('include', 'fail', `Airlock's ssh config ${paths.config} has not been written.`, 'ssh does not know your targets: "ssh TARGET" ends with "Could not resolve hostname".', 'airlock config')];
  }
  const a = analyseInclude(readText(paths.userConfig), paths.config, ctx.home);
  if (!a.present) {
    return [finding('include', 'fail', `${paths.userConfig} does not include Airlock's config (${paths.config}).`,
      'ssh does not read it: "ssh TARGET" ends with "Could not resolve hostname", and the gateway\'s key is not known.', 'airlock config   (adds the Include line at the top, after a backup)')];
  }
  const out: Finding[] = [];
  if (a.shadowedBy.length > 0) {
    const first = a.shadowedBy[0]!;
    out.push(finding('include', 'fail', `The Include of Airlock's config is shadowed: line ${first.line} of ${paths.userConfig} ("${first.text}") comes before it (line ${a.line}).`,
      first.kind === 'option'
        ? 'ssh uses the first value it reads for each option, so that line overrides Airlock\'s setting for every host.'
        : `An Include below a ${first.kind === 'host' ? 'Host' : 'Match'} line only applies when that block matches, and the block's settings come first.`,
      'airlock config   (moves the Include line to the top)'));
  }
  if (a.count > 1) out.push(finding('include', 'warn', `${paths.userConfig} includes Airlock's config ${a.count} times.`, 'Harmless, but confusing.', 'airlock config   (keeps one, at the top)'));
  if (out.length === 0) out.push(finding('include', 'ok', `${paths.userConfig} includes Airlock's config first.`));
  return out;
}

const EFFECTIVE_OPTIONS = ['hostname', 'port', 'user', 'proxyjump', 'identitiesonly', 'certificatefile'] as const;
const MAX_HOSTS_CHECKED = 10;

/** What ssh actually uses for Airlock's hosts (`ssh -G`) is what the generated config says. */
export async function checkEffectiveConfig(ctx: DoctorContext): Promise<Finding[]> {
  const paths = sshConfigPaths(ctx.home);
  const owned = readText(paths.config);
  if (owned === null || !analyseInclude(readText(paths.userConfig), paths.config, ctx.home).present) return [];
  if (localSshVersion().kind !== 'ok') return [];
  const out: Finding[] = [];
  const blocks = [...hostBlocks(owned)].slice(0, MAX_HOSTS_CHECKED);
  for (const [alias, expected] of blocks) {
    const eff = effectiveSshConfig(alias, ctx.home);
    if ('error' in eff) {
      out.push(finding('ssh-config', 'fail', `ssh refuses your configuration: ${eff.error}`, 'No ssh command works until the config is fixed.', `ssh -G ${alias}   (shows the line ssh objects to)`));
      return out;
    }
    for (const opt of EFFECTIVE_OPTIONS) {
      const want = expected.get(opt);
      if (want === undefined) continue;
      const got = eff.options.get(opt) ?? [];
      const matches = opt === 'certificatefile' ? got.includes(want) : got[0] === want;
      if (!matches) {
        out.push(finding('ssh-config', 'fail', `For ${alias}, ssh uses ${opt} ${got[0] ?? '(none)'} instead of Airlock's ${want}.`,
          'Something read before Airlock\'s config sets it (an earlier line of ~/.ssh/config or a file it includes).',
          `Find it with: grep -in '^ *${opt}' ${paths.userConfig}; move it below the Include line or into a Host block for other hosts.`));
      }
    }
  }
  if (out.length === 0) out.push(finding('ssh-config', 'ok', `ssh uses Airlock's settings for ${blocks.map(([a]) => a).join(', ')}.`));
  return out;
}

/** The generated config lists the targets the server lists now. */
export async function checkConfigCurrent(ctx: DoctorContext): Promise<Finding[]> {
  if (!ctx.session) return [];
  const owned = readText(sshConfigPaths(ctx.home).config);
  if (owned === null) return [];
  const t = await targets(ctx);
  if (!t.ok) return [finding('config-current', 'skip', `Your targets could not be fetched (${t.error}).`)];
  const have = new Set([...hostBlocks(owned).keys()].filter((a) => a !== GATEWAY_ALIAS));
  const want = new Set(t.value.map((x) => x.name));
  const missing = [...want].filter((n) => !have.has(n));
  const gone = [...have].filter((n) => !want.has(n));
  if (missing.length === 0 && gone.length === 0) return [finding('config-current', 'ok', `Your ssh config lists your ${want.size} target(s).`)];
  const parts = [missing.length ? `new target(s) not in it yet: ${missing.join(', ')}` : '', gone.length ? `target(s) no longer yours: ${gone.join(', ')}` : ''].filter(Boolean);
  return [finding('config-current', 'warn', `Your ssh config is out of date (${parts.join('; ')}).`, 'ssh does not know new targets until the config is rewritten.', 'airlock config')];
}

// ---- local ports -------------------------------------------------------------------------------

/**
 * The ports asked about (--port) are free; the usual local ports of the user's services are noted when
 * taken. One verdict per port: a service port already reported busy through --port is not called free
 * again in the summary line (issue 11 saw "FAIL … 18888 is in use" next to "ok … are free").
 */
export async function checkLocalPorts(ctx: DoctorContext): Promise<Finding[]> {
  const out: Finding[] = [];
  const busy = new Set<number>();
  const whoUses = (p: number): string => `See what uses it: ss -ltnp 'sport = :${p}' (Linux) or lsof -nP -iTCP:${p} -sTCP:LISTEN (macOS).`;
  for (const port of ctx.ports) {
    if (!(await isPortFree(port))) {
      busy.add(port);
      out.push(finding('local-ports', 'fail', `Local port ${port} is in use by another program.`,
        `A tunnel cannot listen there: ssh says "bind [127.0.0.1]:${port}: Address already in use".`,
        `Use another port: airlock tunnel TARGET SERVICE --local-port ${port === 65535 ? port - 1 : port + 1} (without --local-port it picks a free one). ${whoUses(port)}`));
    } else {
      out.push(finding('local-ports', 'ok', `Local port ${port} is free.`));
    }
  }
  if (ctx.session) {
    const t = await targets(ctx);
    if (t.ok) {
      const services: { target: TargetInfo; name: string; port: number }[] = t.value.flatMap((target) => target.services.map((s) => ({ target, name: s.name, port: preferredLocalPort(s.port) })));
      const checked = new Set<number>(ctx.ports);
      const free: number[] = [];
      const taken: number[] = [];
      for (const s of services) {
        if (free.includes(s.port) || taken.includes(s.port)) continue;
        if (checked.has(s.port)) {
          // Already reported above, as asked with --port.
          (busy.has(s.port) ? taken : free).push(s.port);
          continue;
        }
        if (await isPortFree(s.port)) {
          free.push(s.port);
          continue;
        }
        taken.push(s.port);
        out.push(finding('local-ports', 'warn', `Local port ${s.port}, the usual one for ${s.name} on ${s.target.name}, is in use by another program.`,
          'airlock tunnel then picks another free port and prints it; a hand-written ssh -L on that port fails with "Address already in use".',
          `airlock tunnel ${s.target.name} ${s.name}   (picks a free port). ${whoUses(s.port)}`));
      }
      if (free.length > 0 && taken.length === 0) {
        out.push(finding('local-ports', 'ok', `The usual local ports of your services are free (${free.join(', ')}).`));
      } else if (free.length > 0) {
        out.push(finding('local-ports', 'ok', `The other usual local ports of your services are free (${free.join(', ')}).`));
      }
    }
  }
  return out;
}

/** Every check with the name of its findings, in the order they are shown. */
export const ALL_CHECKS: readonly { name: CheckName; run: (ctx: DoctorContext) => Promise<Finding[]> }[] = [
  { name: 'ssh-client', run: checkSshClient },
  { name: 'session', run: checkSession },
  { name: 'certificate', run: checkCertificate },
  { name: 'agent', run: checkAgent },
  { name: 'agent-keys', run: checkAgentKeys },
  { name: 'server', run: checkServer },
  { name: 'clock', run: checkClockSkew },
  { name: 'gateway-reachable', run: checkGatewayReachable },
  { name: 'gateway-host-key', run: checkGatewayHostKey },
  { name: 'include', run: checkInclude },
  { name: 'ssh-config', run: checkEffectiveConfig },
  { name: 'config-current', run: checkConfigCurrent },
  { name: 'local-ports', run: checkLocalPorts },
  { name: 'targets', run: (ctx) => checkTargets(ctx, readText) },
];

/** Runs the checks; one that throws becomes a `skip` finding of its own, never a crash of the others. */
export async function runChecks(ctx: DoctorContext, checks = ALL_CHECKS): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const check of checks) {
    try {
      out.push(...(await check.run(ctx)));
    } catch (err) {
      out.push(finding(check.name, 'skip', `This check could not run: ${(err as Error).message}`));
    }
  }
  return out;
}
