/**
 * The terminating proxy of per-job endpoints (issue 13 item 4): the gateway has authenticated the
 * researcher on a job's port; this module opens the gateway's OWN SSH connection to the job's sshd and
 * carries the researcher's channels over it.
 *
 * Interface. `proxyJobConnection(conn, identity, job, deps)` takes
 *  - `conn`: an ssh2 server Connection that has emitted 'ready' (the researcher, authenticated, and
 *    the job's ownership checked by the caller); the proxy adds its own 'session', 'tcpip' and
 *    'request' listeners and must be the only one handling channels on it;
 *  - `identity`: the researcher (user id and name) and their client address, for the ledger and audit;
 *  - `job`: where the job's sshd is (address, port), the account to log in as, how its host key is
 *    trusted (a pinned public key or a host certificate from Airlock's host CA: job-host-trust.ts),
 *    when it expires, and which optional features policy allows (X11, agent forwarding: off unless
 *    set; `-L` to the job's own services);
 *  - `deps`: the CA (to mint the session certificate), the auditor, the clock, and the gateway's
 *    source address towards the job (found by a route lookup when absent);
 * and returns a `JobProxySession` at once: `upstream` settles when the job connection is up (or
 * failed), `bytes` counts data each way (the job log), `close(message)` ends everything with a
 * one-line message to the researcher's sessions (job end), `closed` settles when both sides are gone.
 *
 * The upstream login uses a certificate minted for this session (CertificateAuthority
 * .issueSessionCertificate): principal = the job's login user, valid until the job expires (4 h at
 * most), `source-address` = the gateway's address towards the job, key ID naming user and job, in the
 * ledger and revocable. Its private key is generated in memory per session and never written.
 *
 * Session features are carried one for one: pty (with its modes) and window changes, env (the job's
 * sshd decides what it accepts: OpenSSH sends env without asking for a reply), shell, exec, subsystem
 * (sftp; scp is an exec), signals, exit status and exit signal, EOF in both directions (scp needs it),
 * stderr. `-L` (direct-tcpip) reaches the job's own address or loopback on the job, on the job's
 * service ports when the job lists them; anything else, remote forwarding, and X11 or agent forwarding
 * that policy does not allow are refused and audited (checklist items 4 and 9). Where policy allows
 * agent forwarding and the researcher asked for it (`ssh -A`), the proxy asks the job for it on that
 * session, and each agent channel the job opens is joined to one the proxy opens to the researcher's
 * agent (job-agent-forwarding.ts); each is audited (`job.proxy.agent`).
 *
 * Data path: the gateway's relay (channel-relay.ts) in both directions — each connection's socket is
 * read into one reused buffer and each decrypted payload is written straight into the other side's
 * channel, which copies it once as it encrypts (into ssh2's reused output buffer); data the job's
 * channel cannot take yet (its window is used up) waits in pooled copies; the proxy allocates no
 * buffer per packet. A source
 * channel's window is re-opened only as the other side takes its data, so a stalled job or a stalled
 * researcher holds the other end to about one channel window (2 MiB) and nothing grows (tested with
 * stalled readers in job-proxy.test.ts). Without the researcher connection's relays (deps) that
 * direction uses a stream pipe, with the same flow control.
 */
import { createSocket } from 'node:dgram';
import { generateKeyPairSync } from 'node:crypto';
import { isIPv6 } from 'node:net';
import ssh2 from 'ssh2';
import type { ClientChannel, Connection, PseudoTtyInfo, ServerChannel, Session, TcpipRequestInfo } from 'ssh2';
import type { Auditor } from '../audit/auditor.ts';
import type { CertificateAuthority } from '../ca/authority.ts';
import type { Clock } from '../clock.ts';
import { AirlockError } from '../errors.ts';
import { publicKeyFromKeyObject } from '../ssh/keys.ts';
import { fingerprintSha256 } from '../ssh/fingerprint.ts';
import { formatOpenSshPrivateKey } from '../ssh/private-key.ts';
import { hostKeyPin, presentedKeyMatches, type HostKeyPin, type JobHostTrust } from './job-host-trust.ts';
import { useCertificateForPublickey } from './ssh2-client-cert-auth.ts';
import { relayConnection, type ConnectionRelays } from './channel-relay.ts';
import { ResearcherAgent } from './job-agent-forwarding.ts';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';

/** What the proxy needs to know about a job. */
export interface JobProxyJob {
  id: string;
  name: string;
  /** The job's sshd. */
  address: string;
  port: number;
  /** The account on the job (the session certificate's only principal). */
  loginUser: string;
  hostTrust: JobHostTrust;
  /** Epoch ms, or null for no expiry. */
  expiresAt: number | null;
  /** Ports `-L` may reach on the job; empty or absent: any port on the job itself. */
  servicePorts?: number[];
  /** Optional features; X11 and agent forwarding are off unless policy sets them. */
  features?: { x11?: boolean; agentForwarding?: boolean; portForwarding?: boolean };
}

/** Which optional requests a researcher's session carries to the job's session. */
interface SessionExtras {
  agent: boolean;
  x11: boolean;
}

/** Who is being proxied. */
export interface JobProxyIdentity {
  user: { id: string; name: string };
  clientAddress: string;
}

export interface JobProxyDeps {
  ca: Pick<CertificateAuthority, 'issueSessionCertificate' | 'hostCaKey'>;
  audit: Auditor;
  clock: Clock;
  /** The gateway's address towards jobs (bound as the upstream socket's source); a route lookup when absent. */
  sourceAddress?: string;
  /** How long the job's sshd has to complete key exchange and login (default 15 s). */
  connectTimeoutMs?: number;
  /**
   * The researcher connection's relays (the gateway's relayConnection() for `conn`, made once per
   * connection): researcher→job data then goes from ssh2's decryption straight into the job channel.
   * Without it that direction uses a stream pipe (same bytes and flow control, more CPU).
   */
  researcherRelays?: ConnectionRelays;
}

export interface JobProxySession {
  /** Settles when the proxy is logged in to the job; rejects with an AirlockError otherwise. */
  readonly upstream: Promise<void>;
  /** The serial of the session certificate once it is issued (to revoke it when the job ends). */
  readonly certificateSerial: bigint | undefined;
  /** Bytes of channel data carried so far, each way. */
  readonly bytes: { toJob: number; fromJob: number };
  /** Settles once the researcher's connection and the job connection are both closed. */
  readonly closed: Promise<void>;
  /** Ends the proxy: each open session hears `message` on stderr, then both connections close. */
  close(message?: string): void;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;

/** The proxy's algorithms towards the job: AES-GCM first (AES-NI makes it the cheapest per byte), no SHA-1. */
function upstreamAlgorithms(pin: HostKeyPin): ssh2.Algorithms {
  return {
    kex: ['curve25519-sha256', 'curve25519-sha256@libssh.org', 'ecdh-sha2-nistp256'],
    serverHostKey: pin.type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256'] : [pin.type as ssh2.ServerHostKeyAlgorithm],
    cipher: ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'chacha20-poly1305@openssh.com', 'aes128-ctr'],
    hmac: ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256'],
    compress: ['none'],
  };
}

/** The local address the kernel would use to reach `address` (a connected UDP socket sends nothing). */
export function routeSourceAddress(address: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
    s.once('error', (err) => {
      s.close();
      reject(new AirlockError('unavailable', `No route from the gateway to the job at ${address}.`, { cause: err }));
    });
    s.connect(9, address, () => {
      const local = s.address().address;
      s.close();
      resolve(local);
    });
  });
}

/** Carries `conn`'s channels to `job` over the gateway's own SSH connection (see the header). */
export function proxyJobConnection(conn: Connection, identity: JobProxyIdentity, job: JobProxyJob, deps: JobProxyDeps): JobProxySession {
  const bytes = { toJob: 0, fromJob: 0 };
  const features = { x11: job.features?.x11 === true, agent: job.features?.agentForwarding === true, forward: job.features?.portForwarding !== false };
  const client = new ssh2.Client();
  const openSessions = new Set<ServerChannel>();
  let ending = false;
  let upstreamFailure: AirlockError | undefined;
  let serial: bigint | undefined;
  let upstreamRelays: ConnectionRelays | undefined;
  let connectCalled = false;
  /** The researcher asked for agent forwarding on a session, and policy allowed it. */
  let agentRequested = false;

  const audit = (type: string, outcome: 'success' | 'failure' | 'denied', details: Record<string, unknown>): void => {
    deps.audit.record({ type, outcome, actor: identity.user.name, clientAddress: identity.clientAddress, details: { job: job.id, ...details } })
      .catch(() => undefined); // the audit sink reports its own failures; a proxied session never waits on it
  };
  const refuse = (what: string, details: Record<string, unknown> = {}): void => audit('job.proxy.refused', 'denied', { what, ...details });

  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  let connGone = false;
  let clientGone = false;
  const settle = (): void => {
    if (connGone && clientGone) resolveClosed();
  };
  conn.once('close', () => {
    connGone = true;
    ending = true;
    client.end();
    settle();
  });

  const upstream = (async () => {
    let pin: HostKeyPin;
    try {
      pin = hostKeyPin(job.hostTrust, { hostCaBlob: deps.ca.hostCaKey.blob, names: [job.name, job.address], nowSeconds: BigInt(Math.floor(deps.clock.now() / 1000)) });
    } catch (err) {
      audit('job.proxy.host_key', 'denied', { reason: err instanceof AirlockError ? err.message : 'invalid host trust' });
      throw new AirlockError('unavailable', 'The job\'s registered host certificate is not valid; ask the operator to register the job again.', { cause: err });
    }
    const sourceAddress = deps.sourceAddress ?? await routeSourceAddress(job.address);
    const { privateKey } = generateKeyPairSync('ed25519');
    const issued = await deps.ca.issueSessionCertificate({
      user: identity.user, job: { id: job.id, name: job.name }, loginUser: job.loginUser, publicKey: publicKeyFromKeyObject(privateKey),
      jobExpiresAt: job.expiresAt, sourceAddress, clientAddress: identity.clientAddress,
      extensions: { 'permit-pty': '', ...(features.forward ? { 'permit-port-forwarding': '' } : {}), ...(features.x11 ? { 'permit-X11-forwarding': '' } : {}), ...(features.agent ? { 'permit-agent-forwarding': '' } : {}) },
    });
    serial = issued.serial;
    // The researcher may have left while the certificate was minted: then there is no one to connect for.
    if (ending) throw new AirlockError('unavailable', 'The connection ended before the job was reached.');
    useCertificateForPublickey(client, issued.certificate.blob, privateKey);
    // Interactive keystrokes and sftp's request/response traffic must not wait for Nagle's algorithm.
    client.once('connect', () => client.setNoDelay(true));
    let presented: string | undefined;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      client.once('ready', () => {
        client.off('error', onError);
        // The researcher left during the login: conn's 'close' called end() before there was a connection.
        if (ending) client.end();
        resolve();
      });
      client.once('error', onError);
      connectCalled = true;
      client.connect({
        host: job.address, port: job.port, localAddress: sourceAddress, username: job.loginUser,
        // Only so that ssh2 tries publickey: the request itself is ssh2-client-cert-auth.ts's, signed in memory.
        privateKey: formatOpenSshPrivateKey(privateKey, ''),
        // The session certificate alone logs in; a forwarded agent is never offered to the job's sshd.
        authHandler: ['none', 'publickey'],
        // Where policy allows it: the agent channels the job opens lead to the researcher's own agent.
        ...(features.agent ? {
          agent: new ResearcherAgent(conn, () => agentRequested, (ok) => audit('job.proxy.agent', ok ? 'success' : 'failure', {})),
        } : {}),
        hostVerifier: (key: Buffer) => {
          if (presentedKeyMatches(pin, key)) return true;
          presented = fingerprintSha256(key);
          return false;
        },
        algorithms: upstreamAlgorithms(pin),
        readyTimeout: deps.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        keepaliveInterval: 60_000,
      });
    }).catch((err: unknown) => {
      if (presented !== undefined) {
        audit('job.proxy.host_key', 'denied', { expected: pin.fingerprint, presented, serial: issued.serial.toString() });
        throw new AirlockError('unavailable', 'The job presented a host key that does not match its registration, so the gateway did not log in; tell the operator.', { cause: err });
      }
      audit('job.proxy.connect', 'failure', { serial: issued.serial.toString(), reason: err instanceof Error ? err.message : String(err) });
      throw new AirlockError('unavailable', 'The gateway could not log in to the job\'s SSH server; try again, or tell the operator if it persists.', { cause: err });
    });
    // Job→researcher data from ssh2's decryption straight into the researcher's channels, as the
    // gateway's relay does (channel-relay.ts: one reused read buffer, no stream per packet).
    const sock = (client as unknown as { _sock?: Socket })._sock;
    if (sock !== undefined) upstreamRelays = relayConnection(client as unknown as Connection, sock, () => undefined);
    audit('job.proxy.connect', 'success', { serial: issued.serial.toString(), host_key: pin.fingerprint, port: job.port, login_user: job.loginUser });
  })();
  upstream.catch((err: unknown) => {
    upstreamFailure = err instanceof AirlockError ? err : new AirlockError('unavailable', 'The gateway could not reach the job.', { cause: err });
    // Failed before connecting (host trust, route, certificate): the client will never emit 'close'.
    if (!connectCalled) {
      clientGone = true;
      settle();
    }
  });
  let upstreamReady = false;
  void upstream.then(() => (upstreamReady = true), () => undefined);
  client.once('close', () => {
    clientGone = true;
    // The job went away: the researcher's connection has nothing left to carry. (A job that was never
    // reached is reported by each session instead: fail() below.)
    if (!ending && upstreamReady) endAll('The connection to the job was closed.');
    settle();
  });
  client.on('error', () => undefined); // connect errors are handled above; later ones end in 'close'

  // X11 channels the job opens towards the researcher's display (only when policy allowed x11-req).
  client.on('x11', (info, accept, reject) => {
    if (!features.x11) return reject();
    conn.x11(info.srcIP, info.srcPort, (err, ch) => {
      if (err) return reject();
      const up = accept();
      up.pipe(ch).pipe(up);
    });
  });

  /** Tells each open session why, then ends both connections. */
  function endAll(message?: string): void {
    ending = true;
    for (const ch of openSessions) {
      if (message !== undefined && ch.writable) ch.stderr.write(`airlock: ${message}\r\n`);
      ch.end();
    }
    conn.end();
    client.end();
  }

  conn.on('session', (acceptSession) => handleSession(acceptSession()));
  conn.on('tcpip', (accept, reject, info) => void handleDirectTcpip(accept, reject, info));
  conn.on('request', (_accept, reject, name, info) => {
    // tcpip-forward (-R) and streamlocal forwards are never carried (checklist item 4).
    refuse(name, { bind: `${(info as { bindAddr?: string }).bindAddr ?? ''}:${(info as { bindPort?: number }).bindPort ?? ''}` });
    reject?.();
  });

  function handleSession(session: Session): void {
    let pty: PseudoTtyInfo | undefined;
    const env: Record<string, string> = {};
    let x11: { single: boolean; protocol: string; cookie: string; screen: number } | undefined;
    let agent = false;
    let channel: ClientChannel | undefined;
    let pendingWindow: { rows: number; cols: number; height: number; width: number } | undefined;

    session.on('pty', (accept, _reject, info) => {
      pty = info;
      accept?.();
    });
    session.on('env', (accept, _reject, info) => {
      env[info.key] = info.val;
      accept?.();
    });
    session.on('x11', (accept, reject, info) => {
      if (!features.x11) {
        refuse('x11');
        reject?.();
        return;
      }
      // ssh2's server hands the cookie over as a Buffer of its hex text (whatever its typings say), and
      // its client would hex-encode a Buffer again: pass the text on, as OpenSSH sent it.
      const cookie: unknown = info.cookie;
      x11 = { single: info.single, protocol: info.protocol, cookie: Buffer.isBuffer(cookie) ? cookie.toString('latin1') : String(cookie), screen: info.screen };
      accept?.();
    });
    session.on('auth-agent', (accept, reject) => {
      if (!features.agent) {
        refuse('auth-agent');
        reject?.();
        return;
      }
      // Asked of the job with this session's shell or exec (sshd takes it only before them).
      agentRequested = true;
      agent = true;
      audit('job.proxy.forwarding', 'success', { what: 'auth-agent' });
      accept?.();
    });
    session.on('window-change', (accept, _reject, info) => {
      if (channel) channel.setWindow(info.rows, info.cols, info.height, info.width);
      else pendingWindow = info;
      accept?.();
    });
    session.on('signal', (accept, _reject, info) => {
      channel?.signal(info.name);
      accept?.();
    });

    const start = (acceptChannel: () => ServerChannel, open: (extras: SessionExtras, cb: (err: Error | undefined, ch: ClientChannel) => void) => void): void => {
      const down = acceptChannel();
      openSessions.add(down);
      down.once('close', () => openSessions.delete(down));
      upstream.then(() => {
        const opened = (extras: SessionExtras) => (err: Error | undefined, up: ClientChannel): void => {
          // The job's sshd refused agent or X11 forwarding (AllowAgentForwarding no, X11Forwarding
          // no): ssh carries on without it, and so does the proxy — on a new channel, as ssh2 closed
          // this one (the command has not run yet: ssh2 sends it after these requests).
          const refusedByJob = err === undefined ? undefined
            : extras.agent && /agent forwarding/i.test(err.message) ? 'agent' as const
              : extras.x11 && /X11/.test(err.message) ? 'x11' as const : undefined;
          if (refusedByJob !== undefined) {
            audit('job.proxy.forwarding', 'failure', { what: refusedByJob === 'agent' ? 'auth-agent' : 'x11', reason: 'refused by the job\'s sshd' });
            const fewer = { ...extras, [refusedByJob]: false };
            open(fewer, opened(fewer));
            return;
          }
          if (err) {
            fail(down, 'The job refused the session request.');
            return;
          }
          channel = up;
          if (pendingWindow) up.setWindow(pendingWindow.rows, pendingWindow.cols, pendingWindow.height, pendingWindow.width);
          bridgeSession(down, up);
        };
        const extras = { agent, x11: x11 !== undefined };
        open(extras, opened(extras));
      }, () => fail(down, upstreamFailure?.message ?? 'The gateway could not reach the job.'));
    };
    const ptyOptions = (): ssh2.PseudoTtyOptions | false =>
      (pty ? { rows: pty.rows, cols: pty.cols, height: pty.height, width: pty.width, term: pty.term, modes: pty.modes } : false);
    // ssh2's client sends auth-agent-req@openssh.com for `agentForward` (not in its typings).
    type WithAgent = { agentForward?: boolean };
    session.on('shell', (accept) => {
      start(accept, (e, cb) => client.shell(ptyOptions(), { env, ...(e.x11 && x11 ? { x11 } : {}), ...(e.agent ? { agentForward: true } : {}) } as ssh2.ShellOptions & WithAgent, cb));
    });
    session.on('exec', (accept, _reject, info) => {
      const p = ptyOptions();
      start(accept, (e, cb) => client.exec(info.command, { env, ...(p ? { pty: p } : {}), ...(e.x11 && x11 ? { x11 } : {}), ...(e.agent ? { agentForward: true } : {}) } as ssh2.ExecOptions & WithAgent, cb));
    });
    session.on('subsystem', (accept, _reject, info) => {
      start(accept, (_e, cb) => client.subsys(info.name, cb));
    });
  }

  /** Writes one line to the researcher's stderr and ends the session with status 255, as ssh does. */
  function fail(down: ServerChannel, message: string): void {
    if (!down.writable) return;
    down.stderr.write(`airlock: ${message}\r\n`);
    down.exit(255);
    down.end();
    // Without the job there is nothing more to do here: the connection ends with its last session.
    if (upstreamFailure !== undefined) down.once('close', () => {
      if (openSessions.size === 0) conn.end();
    });
  }

  /** Joins a researcher's session channel and the job's, each way, with exit status and close. */
  function bridgeSession(down: ServerChannel, up: ClientChannel): void {
    let exit: { code: number } | { signal: string; dump: boolean; desc: string } | undefined;
    up.on('exit', (code: number | null, signal?: string, dump?: boolean, desc?: string) => {
      exit = code !== null ? { code } : { signal: signal ?? 'SIGKILL', dump: dump === true, desc: desc ?? '' };
    });
    up.stderr.on('data', (d: Buffer) => (bytes.fromJob += d.length));
    // Researcher → job, EOF included (scp and `cat` end on it).
    carry(down, up, deps.researcherRelays, 'toJob', true);
    // Job → researcher without ending: exit-status must reach the researcher before ssh2 closes `down`.
    carry(up, down, upstreamRelays, 'fromJob', false);
    up.stderr.pipe(down.stderr, { end: false });
    let upEnded = false;
    let upClosed = false;
    const finish = (): void => {
      if (!upEnded || !upClosed || !down.writable) return;
      try {
        if (exit && 'code' in exit) down.exit(exit.code);
        else if (exit) down.exit(exit.signal, exit.dump, exit.desc);
      } catch {
        down.exit(255); // a signal name ssh2 does not know
      }
      down.end();
    };
    up.once('end', () => {
      upEnded = true;
      finish();
    });
    up.once('close', () => {
      upClosed = true;
      // Data still buffered on the way out is delivered first ('end' comes after it).
      if (!up.readableEnded) up.resume();
      finish();
    });
    down.once('close', () => up.close());
  }

  /**
   * Carries `from`'s data into `to`: through `relays` (straight from ssh2's decryption) when there are
   * some, else a pipe. Both keep ssh2's flow control: `from`'s window is re-opened only as `to` takes data.
   */
  function carry(from: ServerChannel | ClientChannel, to: ServerChannel | ClientChannel, relays: ConnectionRelays | undefined, count: 'toJob' | 'fromJob', endTo: boolean): void {
    const target = to as Writable;
    const write = target.write.bind(target) as (chunk: Buffer, cb?: (err?: Error | null) => void) => boolean;
    // Counted at the one place every byte passes (the relay calls write() on the target; its pooled
    // copies need the callback passed on).
    target.write = ((chunk: Buffer, cb?: (err?: Error | null) => void) => {
      bytes[count] += chunk.length;
      return write(chunk, cb);
    }) as Writable['write'];
    if (relays !== undefined) {
      // What ssh2 buffered in the stream before the relay took over (a client types ahead of the
      // job's session opening) goes first; from here on the relay gets every payload.
      const source = from as Readable;
      for (let chunk = source.read() as Buffer | null; chunk !== null; chunk = source.read() as Buffer | null) target.write(chunk);
      // The relay is typed for the gateway's server channels; a client channel has the same internals.
      relays.add(from as ServerChannel, target);
      if (endTo) from.once('end', () => target.end());
      (from as Readable).resume(); // EOF arrives as 'end' only on a flowing stream
    } else {
      (from as Readable).pipe(target, { end: endTo });
    }
  }

  /** Whether `-L` may reach `host:port` through the job (its own address or loopback on it). */
  function forwardAllowed(host: string, port: number): boolean {
    if (!features.forward) return false;
    const own = host === job.address || host === 'localhost' || host === '127.0.0.1' || host === '::1';
    if (!own) return false;
    const ports = job.servicePorts ?? [];
    return ports.length === 0 || ports.includes(port);
  }

  async function handleDirectTcpip(accept: () => ServerChannel, reject: () => void, info: TcpipRequestInfo): Promise<void> {
    if (!forwardAllowed(info.destIP, info.destPort)) {
      refuse('direct-tcpip', { destination: `${info.destIP}:${info.destPort}` });
      reject();
      return;
    }
    try {
      await upstream;
    } catch {
      reject();
      return;
    }
    client.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, up) => {
      if (err) {
        audit('job.proxy.forward', 'failure', { destination: `${info.destIP}:${info.destPort}` });
        reject();
        return;
      }
      const down = accept();
      carry(down, up, deps.researcherRelays, 'toJob', true);
      carry(up, down, upstreamRelays, 'fromJob', true);
      down.once('close', () => up.close());
      up.once('close', () => down.close());
    });
  }

  return {
    upstream,
    get certificateSerial() {
      return serial;
    },
    bytes,
    closed,
    close(message) {
      endAll(message);
    },
  };
}
