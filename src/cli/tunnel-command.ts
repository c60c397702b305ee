/**
 * `airlock tunnel TARGET SERVICE|PORT`: `ssh -N -L` through the gateway, without copying ports and
 * tokens by hand (the DSMLP and CSCS guides' tunnel recipes). It picks a free local port, opens the
 * tunnel with the generated config, checks once that the service answers, prints the local URL with
 * the service's path and token, and stays up until Ctrl-C, then stops ssh and leaves nothing behind
 * (no master connection: ControlPath=none). Refusals are told apart in plain words: "not allowed"
 * (the gateway's policy) versus "connection refused" (nothing listens on that port).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { AirlockError } from '../errors.ts';
import { requireSession } from './client-state.ts';
import { ensureSshConfigured } from './config-command.ts';
import { chooseLocalPort, TUNNEL_BIND } from './local-ports.ts';
import { outJson, out, say } from './output.ts';
import { fetchTargets, preferredLocalPort, serviceUrl, type ServiceInfo, type TargetInfo } from './platform-info.ts';
import { GATEWAY_ALIAS, targetProblem } from './ssh-config.ts';
import { classifySshLine, explainFatal, explainOpenFailure, type SshEvent, type TunnelWhat } from './ssh-messages.ts';
import { sshConfigArgs } from './system-ssh.ts';
import { probeTunnel } from './tunnel-probe.ts';

/** How long to wait for ssh to sign in and listen (a browser login at the gateway can take a while). */
const READY_TIMEOUT_MS = 10 * 60_000;
/** How long the check waits for the gateway's answer (its own connect timeout is 10 s by default). */
const PROBE_TIMEOUT_MS = 30_000;
const PORT_ATTEMPTS = 3;

// ssh prints these at VERBOSE level, which DEBUG2 includes; they are noise for someone opening a tunnel.
// Everything else (warnings, a browser-login link from the gateway) is passed through.
const NOISE = /^(Authenticated to |Authenticating to |Transferred: |Bytes per second|Server accepts key|Offering public key|Will attempt key|Authentication succeeded|Connection established|Connecting to |Warning: Permanently added|Killed by signal|Local connections to|Remote connections from|Requesting |Remote protocol version|Server host key: |Host '.*' is known|Found key in|Connection to \S+ closed|Exit status|Pseudo-terminal)/;

export interface TunnelPlan {
  target: TargetInfo;
  port: number;
  service: ServiceInfo | null;
}

/** Finds the target and the port (a service name or a number) among the user's targets. */
export function planTunnel(targets: readonly TargetInfo[], targetName: string, what: string): TunnelPlan {
  const target = targets.find((t) => t.name === targetName);
  if (!target) {
    const names = targets.map((t) => t.name);
    throw new AirlockError('not_found', `You have no target named ${JSON.stringify(targetName)}${names.length ? `; yours: ${names.join(', ')}` : ''}. airlock hosts lists them.`);
  }
  // The name goes into ssh's -L argument: one that is not a plain host alias is refused.
  const problem = targetProblem(target);
  if (problem !== undefined) throw new AirlockError('unavailable', `The target ${JSON.stringify(target.name.slice(0, 64))} cannot be used: ${problem}.`);
  if (/^\d+$/.test(what)) {
    const port = Number(what);
    if (port < 1 || port > 65535) throw new AirlockError('bad_request', `${what} is not a port number (1 to 65535).`);
    return { target, port, service: target.services.find((s) => s.port === port) ?? null };
  }
  const service = target.services.find((s) => s.name === what);
  if (!service) {
    const list = target.services.map((s) => `${s.name} (${s.port})`).join(', ');
    throw new AirlockError('not_found', `${target.name} has no service named ${JSON.stringify(what)}${list ? `; its services: ${list}` : ' (it has no registered services)'}. Give a service name or a port number.`);
  }
  return { target, port: service.port, service };
}

type Outcome = { kind: 'event'; event: SshEvent } | { kind: 'exit'; code: number | null; signal: NodeJS.Signals | null } | { kind: 'timeout' };

/** One ssh -N -L process and the events read from its stderr. */
class TunnelProcess {
  readonly child: ChildProcess;
  readonly lastLines: string[] = [];
  #listeners = new Set<(e: SshEvent) => void>();
  #exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  #exitWaiters = new Set<() => void>();

  constructor(args: string[]) {
    this.child = spawn('ssh', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.on('error', () => {
      this.#exit ??= { code: 127, signal: null };
      for (const w of this.#exitWaiters) w();
    });
    this.child.on('exit', (code, signal) => {
      this.#exit = { code, signal };
      for (const w of this.#exitWaiters) w();
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => {
      const e = classifySshLine(line);
      if (e.kind !== 'debug') {
        this.lastLines.push(line);
        if (this.lastLines.length > 20) this.lastLines.shift();
      }
      for (const l of this.#listeners) l(e);
    });
  }

  get exited(): { code: number | null; signal: NodeJS.Signals | null } | null {
    return this.#exit;
  }

  on(listener: (e: SshEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Calls `listener` once ssh has exited (at once if it has). */
  onExit(listener: () => void): () => void {
    if (this.#exit) {
      listener();
      return () => {};
    }
    this.#exitWaiters.add(listener);
    return () => this.#exitWaiters.delete(listener);
  }

  /** Resolves with the first event `pred` accepts, ssh's exit, or a timeout. */
  waitFor(pred: (e: SshEvent) => boolean, timeoutMs: number): Promise<Outcome> {
    return new Promise((resolve) => {
      const done = (o: Outcome): void => {
        clearTimeout(timer);
        off();
        this.#exitWaiters.delete(onExit);
        resolve(o);
      };
      const off = this.on((e) => {
        if (pred(e)) done({ kind: 'event', event: e });
      });
      const onExit = (): void => done({ kind: 'exit', code: this.#exit?.code ?? null, signal: this.#exit?.signal ?? null });
      this.#exitWaiters.add(onExit);
      const timer = setTimeout(() => done({ kind: 'timeout' }), timeoutMs);
      if (this.#exit) onExit();
    });
  }

  /** Stops ssh and waits until it has exited. */
  async stop(): Promise<void> {
    if (this.#exit) return;
    const exited = new Promise<void>((r) => this.#exitWaiters.add(r));
    this.child.kill('SIGTERM');
    const kill = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(kill);
  }
}

/** The ssh arguments of a tunnel through the generated gateway alias. */
export function tunnelSshArgs(localPort: number, target: string, port: number, configArgs: string[]): string[] {
  return [
    ...configArgs,
    '-N',
    // Its own connection, never a shared master: the forward must end with this process, and ssh's
    // messages about it must come to this process's stderr.
    '-o', 'ControlMaster=no',
    '-o', 'ControlPath=none',
    '-o', 'ExitOnForwardFailure=yes',
    '-o', 'LogLevel=DEBUG2',
    '-o', 'ServerAliveInterval=30',
    '-L', `${TUNNEL_BIND}:${localPort}:${target}:${port}`,
    GATEWAY_ALIAS,
  ];
}

function failureFrom(o: Outcome, t: TunnelProcess, w: TunnelWhat): AirlockError {
  if (o.kind === 'timeout') return new AirlockError('unavailable', 'ssh did not open the tunnel in time; run airlock doctor.');
  const events = t.lastLines.map(classifySshLine);
  const fatal = events.map((e) => explainFatal(e, w)).find((x): x is string => x !== null);
  if (fatal) return new AirlockError(events.some((e) => e.kind === 'auth-denied') ? 'unauthenticated' : 'unavailable', fatal);
  const tail = t.lastLines.filter((l) => !NOISE.test(l)).slice(-3).join(' / ');
  if (o.kind === 'exit' && o.code === 127) return new AirlockError('unavailable', 'ssh could not be started: is OpenSSH installed (the ssh command on PATH)?');
  return new AirlockError('unavailable', `ssh stopped before the tunnel was open${tail ? `: ${tail}` : ''}. airlock doctor checks the usual causes.`);
}

export interface TunnelOptions {
  localPort?: number;
  json?: boolean;
  check: boolean;
}

/** Opens the tunnel and keeps it until a signal or ssh's end; resolves with the exit code. */
export async function runTunnel(targetName: string, what: string, opts: TunnelOptions): Promise<number> {
  const session = requireSession();
  const plan = planTunnel(await fetchTargets(session), targetName, what);
  await ensureSshConfigured(session);
  const w: TunnelWhat = { target: plan.target.name, port: plan.port, service: plan.service?.name ?? null, gatewayAlias: GATEWAY_ALIAS };

  // Signals are taken over before ssh starts, so that Ctrl-C at any moment stops ssh too.
  let current: TunnelProcess | undefined;
  let stopping = false;
  const onSignal = (): void => {
    stopping = true;
    void current?.stop();
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  try {
    let localPort = 0;
    let ready = false;
    for (let attempt = 0; attempt < PORT_ATTEMPTS && !ready; attempt++) {
      const chosen = await chooseLocalPort(attempt === 0 ? opts.localPort : undefined, preferredLocalPort(plan.port));
      if (chosen.note && attempt === 0) say(chosen.note);
      localPort = chosen.port;
      if (stopping) return 0;
      const t = new TunnelProcess(tunnelSshArgs(localPort, plan.target.name, plan.port, sshConfigArgs()));
      current = t;
      // Pass through what a person should see while ssh signs in (warnings, a browser-login link).
      const off = t.on((e) => {
        if (e.kind === 'other' && !NOISE.test(e.line)) say(e.line);
      });
      const outcome = await t.waitFor((e) => e.kind === 'listening', READY_TIMEOUT_MS);
      off();
      if (stopping) return 0;
      if (outcome.kind === 'event') {
        ready = true;
        break;
      }
      await t.stop();
      const lostPortRace = t.lastLines.some((l) => classifySshLine(l).kind === 'bind-failed');
      if (!lostPortRace || attempt === PORT_ATTEMPTS - 1) throw failureFrom(outcome, t, w);
    }
    const t = current!;

    if (opts.check) {
      const answer = await probeTunnel(t, localPort, PROBE_TIMEOUT_MS);
      if (stopping) return 0;
      if (answer.kind === 'refused') {
        if (answer.event === null) throw new AirlockError('unavailable', `The gateway closed the connection to ${w.target} port ${w.port} without saying why; airlock doctor checks the usual causes.`);
        throw new AirlockError(answer.event.reason === 'prohibited' ? 'forbidden' : 'unavailable', explainOpenFailure(answer.event, w));
      }
      if (answer.kind === 'ssh-exited') throw failureFrom({ kind: 'exit', code: t.exited?.code ?? null, signal: t.exited?.signal ?? null }, t, w);
      if (answer.kind === 'not-listening') throw new AirlockError('unavailable', `ssh did not accept connections on ${TUNNEL_BIND}:${localPort}; run airlock doctor.`);
      if (answer.kind === 'timeout') say(`${w.target} port ${w.port} did not answer within ${PROBE_TIMEOUT_MS / 1000} s; the tunnel stays open, but the service may not be reachable.`);
    }
    const url = serviceUrl(localPort, plan.service ?? { path: null, token: null });
    const address = `${TUNNEL_BIND}:${localPort}`;
    if (opts.json) outJson({ target: w.target, service: w.service, remote_port: w.port, local_port: localPort, address, url });
    else out(url ?? address);
    say(`Tunnel open: ${address} -> ${w.target} port ${w.port}${w.service ? ` (${w.service})` : ''}.${url ? ` Open ${url}` : ''}\nPress Ctrl-C to close it.`);

    // From here on, tell each refused connection in plain words, and pass ssh's other messages through.
    t.on((e) => {
      if (stopping) return;
      if (e.kind === 'open-failed') say(explainOpenFailure(e, w));
      else if (e.kind === 'other' && !NOISE.test(e.line)) say(e.line);
    });
    const end = await t.waitFor(() => false, 2 ** 31 - 1);
    if (stopping) {
      say('Tunnel closed.');
      return 0;
    }
    say(`The tunnel closed: ${failureFrom(end, t, w).message}`);
    return 1;
  } finally {
    for (const s of signals) process.off(s, onSignal);
    await current?.stop();
  }
}

function parseLocalPort(v: string): number {
  if (!/^\d{1,5}$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw new AirlockError('bad_request', `--local-port must be a number from 1 to 65535, not ${JSON.stringify(v)}.`);
  return Number(v);
}

/** Registers `tunnel`. */
export function registerTunnelCommand(program: Command): void {
  program
    .command('tunnel')
    .description('Open a tunnel to a service on a target (Jupyter, a dashboard, a database) and print its local URL')
    .argument('<target>', 'the target, as airlock hosts lists it')
    .argument('<service|port>', 'a service name of that target (e.g. jupyter) or a port number')
    .option('--local-port <n>', 'the local port to listen on (another free one is used if it is taken)', parseLocalPort)
    .option('--no-check', 'do not test the connection to the service before printing the URL')
    .option('--json', 'print the tunnel as JSON once it is open')
    .addHelpText('after', `
The tunnel listens on 127.0.0.1 only and runs until you press Ctrl-C. It goes through the gateway
(ssh -N -L with your generated config), so the target needs no other setup.

Examples:
  airlock tunnel my-vm jupyter            # prints e.g. http://127.0.0.1:8888/lab?token=...
  airlock tunnel my-vm 6006 --local-port 16006
  airlock tunnel my-vm redis --json

"Not allowed" means the gateway's policy refuses that port (only the target's SSH port and its
registered services are reachable); "connection refused" means nothing listens on that port.`)
    .action(async (target: string, what: string, opts: { localPort?: number; check: boolean; json?: boolean }) => {
      process.exitCode = await runTunnel(target, what, { check: opts.check, ...(opts.localPort !== undefined ? { localPort: opts.localPort } : {}), ...(opts.json ? { json: true } : {}) });
    });
}
