/**
 * `airlock putty`: what PuTTY (≥ 0.78, which reads OpenSSH certificates) needs on Windows — the key as
 * a PPK file, the certificate next to it, and step-by-step session settings for the gateway, each
 * target (through the gateway as an SSH proxy) and each service tunnel, plus the same as plink
 * commands. Rescale's guide treats PuTTY users as first-class; so does this.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { AirlockError } from '../errors.ts';
import { writeFileAtomic } from '../files.ts';
import { parseCertificate } from '../ssh/certificate.ts';
import { openSshPrivateKeyComment, parseOpenSshPrivateKey } from '../ssh/private-key.ts';
import { ensurePrivateDir, requireSession, type ClientSession } from './client-state.ts';
import { out, outJson, say } from './output.ts';
import { fetchCaKeys, fetchGatewayInfo, fetchTargets, preferredLocalPort, serviceUrl, type GatewayInfo, type TargetInfo } from './platform-info.ts';
import { formatPpk } from './ppk.ts';
import { isValidUserName, loginNameFor } from '../identity/user-names.ts';
import { targetProblem } from './ssh-config.ts';

export interface PuttyFiles {
  dir: string;
  ppk: string;
  certificate: string;
  instructions: string;
  /** Windows registry file with the saved sessions and the host CA. */
  registry: string;
}

/** The saved session of the gateway, which the target sessions name as their SSH proxy. */
export const GATEWAY_SESSION = 'airlock-gateway';
/** The saved session with a tunnel for every service. */
export const TUNNELS_SESSION = 'airlock-tunnels';

/** Where `airlock putty` writes by default. */
export function puttyDir(home: string = homedir()): string {
  return join(home, '.ssh', 'airlock', 'putty');
}

export interface PuttyGuideInput {
  user: string;
  files: PuttyFiles;
  validBefore: string;
  gateway: GatewayInfo;
  hostCa: string | null;
  targets: readonly TargetInfo[];
}

const q = (s: string): string => (/[\s"]/.test(s) ? `"${s.replaceAll('"', '\\"')}"` : s);

/** The plink options that sign in to the gateway (the host last: plink reads what follows it as the command). */
export function plinkGatewayArgs(g: PuttyGuideInput): string[] {
  return ['-i', g.files.ppk, '-cert', g.files.certificate, '-hostkey', g.gateway.fingerprint, '-P', String(g.gateway.port), `${g.user}@${g.gateway.host}`];
}

/** A saved PuTTY session (or host CA): its name and settings as PuTTY stores them. */
export interface PuttySettings {
  name: string;
  /** Strings are REG_SZ, numbers REG_DWORD in the Windows registry; both are `key=value` lines on Unix. */
  values: Record<string, string | number>;
}

/** The saved sessions PuTTY needs: the gateway, one per target (the gateway as SSH proxy), the tunnels; and the host CA. */
export function puttySessions(g: PuttyGuideInput): { sessions: PuttySettings[]; hostCa: PuttySettings | null } {
  const targets = g.targets.filter((t) => targetProblem(t) === undefined);
  const credentials = { PublicKeyFile: g.files.ppk, DetachedCertificate: g.files.certificate };
  const gateway = {
    HostName: g.gateway.host, PortNumber: g.gateway.port, Protocol: 'ssh', UserName: g.user, ...credentials,
    // The fingerprint the server publishes: PuTTY checks the gateway against it instead of asking.
    SSHManualHostKeys: g.gateway.fingerprint,
  };
  const sessions: PuttySettings[] = [{ name: GATEWAY_SESSION, values: gateway }];
  for (const t of targets) {
    sessions.push({
      name: t.name,
      values: {
        HostName: t.name, PortNumber: t.port, Protocol: 'ssh', UserName: t.login_user ?? loginNameFor(g.user), ...credentials,
        // PuTTY ≥ 0.77 "SSH to proxy and use port forwarding"; a saved session's name as proxy host makes
        // the proxy connection use that session's settings (key, certificate, pinned host key).
        ProxyMethod: 6, ProxyHost: GATEWAY_SESSION, ProxyPort: g.gateway.port,
      },
    });
  }
  const forwards = targets.flatMap((t) => t.services.map((s) => `L127.0.0.1:${preferredLocalPort(s.port)}=${t.name}:${s.port}`));
  if (forwards.length > 0) sessions.push({ name: TUNNELS_SESSION, values: { ...gateway, PortForwardings: forwards.join(',') } });
  let hostCa: PuttySettings | null = null;
  if (g.hostCa !== null && targets.length > 0) {
    const [, b64] = g.hostCa.trim().split(/\s+/);
    hostCa = {
      name: 'airlock',
      values: { PublicKey: b64 ?? '', Validity: targets.map((t) => t.name).join(' || '), PermitRSASHA1: 0, PermitRSASHA256: 1, PermitRSASHA512: 1 },
    };
  }
  return { sessions, hostCa };
}

/**
 * Refuses settings that could smuggle a line into PuTTY's files: a newline in a value would add a
 * setting of its own (a local proxy command, say). Values come from the server and the command line.
 */
function checkSettings(p: PuttySettings): void {
  for (const [k, v] of [['name', p.name], ...Object.entries(p.values)] as [string, string | number][]) {
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
    if (typeof v === 'string' && /[\x00-\x1f\x7f]/.test(v)) throw new AirlockError('config', `The PuTTY setting ${k} would contain a control character; refusing to write it.`);
  }
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(p.name)) throw new AirlockError('config', `${JSON.stringify(p.name)} cannot be a PuTTY session name here.`);
}

/** A path as Windows sees it: WSL's `/mnt/c/Users/…` becomes `C:\Users\…`; others are kept. */
export function windowsPath(path: string): string {
  const m = /^\/mnt\/([a-z])(\/.*)?$/.exec(path);
  return m ? `${m[1]!.toUpperCase()}:${(m[2] ?? '/').replaceAll('/', '\\')}` : path;
}

/** Settings as a Windows .reg file (HKCU\Software\SimonTatham\PuTTY: Sessions and SshHostCAs). */
export function puttyRegFile(s: { sessions: PuttySettings[]; hostCa: PuttySettings | null }): string {
  const str = (v: string): string => `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  const section = (key: string, p: PuttySettings): string[] => [
    `[HKEY_CURRENT_USER\\Software\\SimonTatham\\PuTTY\\${key}\\${p.name}]`,
    ...Object.entries(p.values).map(([k, v]) => {
      if (typeof v === 'number') return `"${k}"=dword:${v.toString(16).padStart(8, '0')}`;
      return `"${k}"=${str(k === 'PublicKeyFile' || k === 'DetachedCertificate' ? windowsPath(v) : v)}`;
    }),
    '',
  ];
  const lines = ['Windows Registry Editor Version 5.00', ''];
  s.sessions.forEach(checkSettings);
  if (s.hostCa) checkSettings(s.hostCa);
  for (const p of s.sessions) lines.push(...section('Sessions', p));
  if (s.hostCa) lines.push(...section('SshHostCAs', s.hostCa));
  return lines.join('\r\n');
}

/** Settings as a Unix PuTTY file (`~/.putty/sessions/NAME`, `~/.putty/sshhostcas/NAME`). */
export function puttyUnixFile(p: PuttySettings): string {
  checkSettings(p);
  return Object.entries(p.values).map(([k, v]) => `${k}=${v}`).join('\n') + '\n';
}

/** The session instructions and plink commands, as plain text. */
export function puttyGuide(g: PuttyGuideInput): string {
  const targets = g.targets.filter((t) => targetProblem(t) === undefined);
  const gwArgs = plinkGatewayArgs(g).map(q).join(' ');
  const L: string[] = [];
  L.push(
    'Airlock for PuTTY (version 0.78 or newer: it reads OpenSSH certificates)',
    '========================================================================',
    '',
    `Private key (PPK):  ${g.files.ppk}   (keep it private; it has no passphrase)`,
    `Certificate:        ${g.files.certificate}   (valid until ${g.validBefore}; after each`,
    '                    airlock login, run airlock putty again: the key and certificate change)',
    `Gateway:            ${g.gateway.host}, port ${g.gateway.port}, user ${g.user}`,
    `Gateway host key:   ${g.gateway.fingerprint}`,
    '',
    `The quick way on Windows: double-click ${g.files.registry} (it creates the saved sessions below,`,
    'with the paths of this machine) and open them in PuTTY. Or set them up by hand:',
    '',
    `1. A session for the gateway, saved as ${GATEWAY_SESSION}`,
    `   Session: Host Name ${g.gateway.host}, Port ${g.gateway.port}, Connection type SSH.`,
    `   Connection > Data: Auto-login username ${g.user}.`,
    '   Connection > SSH > Auth > Credentials:',
    `     "Private key file for authentication": ${g.files.ppk}`,
    `     "Certificate to use with the private key": ${g.files.certificate}`,
    `   Connection > SSH > Host keys: "Manually configure host keys for this connection": add ${g.gateway.fingerprint}`,
    `   Session: type ${GATEWAY_SESSION} under "Saved Sessions", press Save.`,
    '   Opened, it shows the gateway\'s lobby: your targets and how to reach them.',
    '',
  );
  if (g.hostCa !== null && targets.length > 0) {
    L.push(
      '2. Trust the Airlock host CA for your targets (no host key prompts for them)',
      '   Connection > SSH > Host keys > "Configure host CAs":',
      '     Name: airlock',
      `     Public key: ${g.hostCa}`,
      `     Valid hosts this key is trusted to certify: ${targets.map((t) => t.name).join(' || ')}`,
      '   Save the CA.',
      '',
    );
  }
  if (targets.length === 0) {
    L.push('You have no targets yet: they appear when your project registers a VM, job or node; run airlock putty again then.', '');
  } else {
    L.push('3. A session per target, through the gateway', '');
    for (const t of targets) {
      const login = t.login_user ?? loginNameFor(g.user);
      L.push(
        `   ${t.name}: load ${GATEWAY_SESSION}, then change`,
        `     Session: Host Name ${t.name}, Port ${t.port}.`,
        `     Connection > Data: Auto-login username ${login}.`,
        '     Connection > Proxy: Proxy type "SSH to proxy and use port forwarding",',
        `       Proxy hostname ${GATEWAY_SESSION} (the saved session: its key and certificate are used), Port ${g.gateway.port}.`,
        `     Session: save as ${t.name}.`,
        `   plink: plink -proxycmd ${q(`plink -batch ${gwArgs} -nc %host:%port`)} -i ${q(g.files.ppk)} -cert ${q(g.files.certificate)} -P ${t.port} ${login}@${t.name}`,
        '',
      );
    }
    const services = targets.flatMap((t) => t.services.map((s) => ({ t, s })));
    if (services.length > 0) {
      L.push(
        `4. Tunnels to services (Jupyter and others): the saved session ${TUNNELS_SESSION}, or by hand in a copy of`,
        `   ${GATEWAY_SESSION}: Connection > SSH > Tunnels, Source port and Destination as below, Add.`,
        '   Keep the session open while you use the service.',
        '',
      );
      for (const { t, s } of services) {
        const local = preferredLocalPort(s.port);
        const url = serviceUrl(local, s);
        L.push(
          `   ${s.name} on ${t.name}: Source port ${local}, Destination ${t.name}:${s.port}${url ? `, then open ${url}` : ''}`,
          `   plink: plink -N -L 127.0.0.1:${local}:${t.name}:${s.port} ${gwArgs}`,
        );
      }
      L.push('');
    }
  }
  L.push(
    'If PuTTY says "Server refused our key" or "No supported authentication methods", the certificate has',
    'expired: run airlock login, then airlock putty, and load the new files.',
  );
  return L.join('\r\n') + '\r\n';
}

/**
 * Writes the PPK, the certificate copy, the guide and the registry file into `dir`; with `unixHome`,
 * also the saved sessions and host CA where PuTTY on Linux and macOS reads them (`~/.putty`).
 */
export async function writePuttyFiles(session: ClientSession, dir: string, unixHome?: string): Promise<{ files: PuttyFiles; guide: string; unixFiles: string[] }> {
  let keyText: string;
  let certText: string;
  try {
    keyText = readFileSync(session.key_path, 'utf8');
    certText = readFileSync(session.certificate_path, 'utf8');
  } catch {
    throw new AirlockError('not_found', `No key and certificate at ${session.key_path}; run airlock login first.`);
  }
  const cert = parseCertificate(certText);
  const privateKey = parseOpenSshPrivateKey(keyText);
  if (!isValidUserName(session.user)) throw new AirlockError('config', 'The user name in your session cannot be written into PuTTY settings; run airlock login again.');
  const base = basename(session.key_path);
  const files: PuttyFiles = {
    dir,
    ppk: join(dir, `${base}.ppk`),
    certificate: join(dir, `${base}-cert.pub`),
    instructions: join(dir, 'README-PuTTY.txt'),
    registry: join(dir, 'airlock-putty-sessions.reg'),
  };
  const [gateway, ca, targets] = await Promise.all([fetchGatewayInfo(session.server), fetchCaKeys(session.server), fetchTargets(session)]);
  const validBefore = new Date(Number(cert.validBefore) * 1000).toISOString().replace('.000Z', 'Z');
  const input: PuttyGuideInput = { user: session.user, files, validBefore, gateway, hostCa: ca.hostCa, targets };
  const guide = puttyGuide(input);
  const settings = puttySessions(input);
  ensurePrivateDir(dir);
  writeFileAtomic(files.ppk, formatPpk(privateKey, openSshPrivateKeyComment(keyText) || `${session.user}@airlock`), 0o600);
  writeFileAtomic(files.certificate, certText.endsWith('\n') ? certText : certText + '\n', 0o600);
  writeFileAtomic(files.instructions, guide, 0o600);
  writeFileAtomic(files.registry, puttyRegFile(settings), 0o600);
  const unixFiles: string[] = [];
  if (unixHome !== undefined) {
    const sessionsDir = join(unixHome, '.putty', 'sessions');
    const casDir = join(unixHome, '.putty', 'sshhostcas');
    ensurePrivateDir(join(unixHome, '.putty'));
    ensurePrivateDir(sessionsDir);
    for (const p of settings.sessions) {
      unixFiles.push(join(sessionsDir, p.name));
      writeFileAtomic(join(sessionsDir, p.name), puttyUnixFile(p), 0o600);
    }
    if (settings.hostCa) {
      ensurePrivateDir(casDir);
      unixFiles.push(join(casDir, settings.hostCa.name));
      writeFileAtomic(join(casDir, settings.hostCa.name), puttyUnixFile(settings.hostCa), 0o600);
    }
  }
  return { files, guide, unixFiles };
}

/** Registers `putty`. */
export function registerPuttyCommand(program: Command): void {
  program
    .command('putty')
    .description('Write your key as a PuTTY .ppk file with the certificate, PuTTY saved sessions and instructions')
    .option('--output-dir <dir>', 'where to write the files', puttyDir())
    .option('--unix-sessions', 'also write the saved sessions and host CA into ~/.putty (PuTTY and plink on Linux or macOS)')
    .option('--json', 'print the file paths as JSON instead of the instructions')
    .addHelpText('after', `
Writes into the output directory (mode 0600):
  KEY.ppk                        your key for PuTTY (PPK version 3, no passphrase)
  KEY-cert.pub                   your certificate: PuTTY 0.78 or newer reads it
                                 ("Connection > SSH > Auth > Credentials > Certificate to use")
  airlock-putty-sessions.reg     saved sessions for Windows: airlock-gateway, one per target (through
                                 the gateway), airlock-tunnels; and the host CA for your targets
  README-PuTTY.txt               the same settings step by step, and plink commands
Run it again after each airlock login: the key and certificate change.

Examples:
  airlock putty
  airlock putty --output-dir /mnt/c/Users/alice/airlock      # from WSL, for PuTTY on Windows
  airlock putty --unix-sessions && plink -load my-vm`)
    .action(async (opts: { outputDir: string; unixSessions?: boolean; json?: boolean }) => {
      const session = requireSession();
      const { files, guide, unixFiles } = await writePuttyFiles(session, opts.outputDir, opts.unixSessions ? homedir() : undefined);
      if (opts.json) outJson({ ...files, unix_files: unixFiles });
      else out(guide.replaceAll('\r\n', '\n'));
      say(`Wrote ${files.ppk}, ${files.certificate}, ${files.registry} and ${files.instructions}.${unixFiles.length ? ` PuTTY sessions in ${join(homedir(), '.putty')}.` : ''}`);
    });
}
