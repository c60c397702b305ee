/**
 * Session channels on the gateway's main port: the lobby (lobby.ts: `hosts`, `--json`, `help`), `why HOST
 * PORT` (why-command.ts) and `cert` (browser-login.ts). No shell, no commands, no subsystems: pty and
 * window changes are accepted for the lobby's sake, environment variables, signals, X11, agent
 * forwarding and subsystems are refused (the last three audited).
 */
import type { RejectConnection, ServerChannel, Session } from 'ssh2';
import type { GatewayAuthenticator } from './auth.ts';
import type { SessionLimits } from './admission.ts';
import type { GatewayBrowserLogin } from './browser-login.ts';
import type { ForwardChannels } from './forward-channel.ts';
import { noop, type Conn, type GatewayContext } from './gateway-conn.ts';
import { lobbyClientOf, parseLobbyCommand, renderLobbyHelp, renderLobbyJson, renderLobbyText, type LobbyView } from './lobby.ts';
import { tellRefusal } from './refused-session.ts';
import { OPEN_FAILURE } from './ssh2-internals.ts';
import { explainDial, parseWhyCommand } from './why-command.ts';

/** OpenSSH's MaxSessions. */
const MAX_SESSIONS_PER_CONNECTION = 10;

export interface LobbySessionDeps {
  auth: GatewayAuthenticator;
  sessions: SessionLimits;
  browser: GatewayBrowserLogin | null;
  forward: ForwardChannels;
  /** The address users connect to (shown in the lobby's commands). */
  publicAddress: () => { host: string; port: number };
}

/** Runs the lobby on session channels. */
export class LobbySessions {
  readonly #ctx: GatewayContext;
  readonly #d: LobbySessionDeps;

  constructor(ctx: GatewayContext, deps: LobbySessionDeps) {
    this.#ctx = ctx;
    this.#d = deps;
  }

  /** One session channel open request. */
  async open(conn: Conn, accept: () => Session, reject: RejectConnection): Promise<void> {
    const ctx = this.#ctx;
    const hooks = conn.hooks!;
    if (conn.sessions >= MAX_SESSIONS_PER_CONNECTION) {
      hooks.rejectWith(reject, OPEN_FAILURE.resourceShortage, `At most ${MAX_SESSIONS_PER_CONNECTION} sessions per connection.`);
      return;
    }
    const perUser = this.#d.sessions.openChannel(conn.identity!.user.id, conn.identity!.user.name);
    if (!perUser.ok) {
      hooks.rejectWith(reject, OPEN_FAILURE.resourceShortage, perUser.message);
      ctx.audit({ type: 'gateway.channel', outcome: 'denied', actor: conn.identity!.user.name, clientAddress: conn.address, details: { channel: 'session', reason: perUser.reason, limit: perUser.limit } });
      return;
    }
    conn.sessions++;
    const check = await this.#d.auth.recheck(conn.identity!);
    if (!check.ok) {
      ctx.audit({ type: 'gateway.channel', outcome: 'denied', actor: conn.identity!.user.name, clientAddress: conn.address, details: { channel: 'session', reason: check.reason } });
      // Accepted only to tell the reason, which a mux client would lose in a refusal (refused-session.ts).
      const told = conn.socket.destroyed ? undefined : (accept() as Session | undefined);
      if (told === undefined) {
        conn.sessions--;
        perUser.release();
        return;
      }
      told.once('close', () => {
        conn.sessions--;
        perUser.release();
      });
      tellRefusal(told, check.message);
      return;
    }
    const session = conn.socket.destroyed ? undefined : (accept() as Session | undefined);
    if (session === undefined) {
      conn.sessions--;
      perUser.release();
      return;
    }
    let pty = false;
    let started = false;
    session.once('close', () => {
      conn.sessions--;
      perUser.release();
    });
    session.on('pty', (ok: (() => void) | undefined) => {
      pty = true;
      ok?.();
    });
    session.on('window-change', (ok: (() => void) | undefined) => ok?.());
    session.on('signal', (_ok: unknown, no: (() => void) | undefined) => no?.());
    // Environment variables mean nothing to the lobby, and accepting them invites LD_PRELOAD-style games.
    session.on('env', (_ok: unknown, no: (() => void) | undefined) => no?.());
    session.on('x11', (_ok: unknown, no: (() => void) | undefined) => {
      no?.();
      ctx.refused(conn, 'x11-req', {});
    });
    session.on('auth-agent', (_ok: unknown, no: (() => void) | undefined) => {
      no?.();
      ctx.refused(conn, 'auth-agent-req@openssh.com', {});
    });
    session.on('subsystem', (_ok: unknown, no: (() => void) | undefined, info: { name: string }) => {
      no?.();
      ctx.refused(conn, 'subsystem', { name: String(info.name).slice(0, 64) });
    });
    const run = (ch: ServerChannel, command: string | undefined, request: 'shell' | 'exec') => {
      if (started) return;
      started = true;
      void this.#runLobby(conn, ch, command, pty, request);
    };
    session.on('shell', (ok: () => ServerChannel) => run(ok(), undefined, 'shell'));
    session.on('exec', (ok: () => ServerChannel, _no: unknown, info: { command: string }) => run(ok(), info.command, 'exec'));
  }

  async #runLobby(conn: Conn, ch: ServerChannel, command: string | undefined, pty: boolean, request: 'shell' | 'exec'): Promise<void> {
    const ctx = this.#ctx;
    ch.on('error', noop);
    const id = conn.identity!;
    const cmd = parseLobbyCommand(command);
    let status = 0;
    let out = '';
    let err = '';
    // `cert` reads a public key from stdin and answers with a certificate (browser-login.ts; never throws).
    const why = parseWhyCommand(command);
    if (why !== undefined) ({ status, err } = await this.#why(conn, why));
    else if (cmd.kind === 'cert' && this.#d.browser !== null) ({ status, out, err } = await this.#d.browser.certCommand(id, ch, conn.address));
    else try {
      const view: LobbyView = {
        userName: id.user.name, method: id.method, serial: id.serial, validBefore: id.validBefore,
        targets: cmd.kind === 'text' || cmd.kind === 'json' ? await this.#d.forward.targets(conn) : [],
        gateway: this.#d.publicAddress(), now: ctx.deps.clock.now(), clientAddress: conn.address, client: lobbyClientOf(conn.software),
        ...(ctx.deps.jobs !== undefined && (cmd.kind === 'text' || cmd.kind === 'json') ? { jobs: await ctx.deps.store.jobs.listForUser(id.user.id, ctx.deps.clock.now()) } : {}),
      };
      if (cmd.kind === 'text') out = renderLobbyText(view);
      else if (cmd.kind === 'json') out = renderLobbyJson(view);
      else if (cmd.kind === 'help') out = renderLobbyHelp(view);
      else {
        status = 2;
        err = cmd.kind === 'cert'
          ? 'Certificates are not issued at this gateway.\n'
          : `Unknown command "${cmd.command}": this gateway runs no commands. To log in to a target use ssh -J; "hosts" lists your targets.\n`;
      }
    } catch (e) {
      status = 1;
      err = 'Your targets could not be looked up; try again later.\n';
      ctx.log('error', 'lobby failed', { error: (e as Error).message });
    }
    const crlf = (s: string) => (pty ? s.replace(/\n/g, '\r\n') : s);
    if (out) ch.write(crlf(out));
    if (err) ch.stderr.write(crlf(err));
    ctx.audit({
      type: 'gateway.channel', outcome: status === 0 ? 'success' : 'failure', actor: id.user.name, clientAddress: conn.address,
      details: { channel: 'session', request, command: (command ?? '').slice(0, 200), exit_status: status },
    });
    ch.exit(status);
    ch.end();
  }

  /** `why HOST PORT` (why-command.ts): the same dial a channel makes; a connected socket is closed at once. */
  async #why(conn: Conn, why: ReturnType<typeof parseWhyCommand>): Promise<{ status: number; err: string }> {
    if (why === undefined || 'error' in why) return { status: 2, err: why?.error ?? '' };
    try {
      // Expired targets too (liveAt 0): the policy itself refuses them, with "has expired" as the reason.
      const result = await this.#d.forward.dial(conn, await this.#d.forward.targets(conn, 0), why.host, why.port);
      if (result.ok) result.socket.destroy();
      return explainDial(result, why);
    } catch (e) {
      this.#ctx.log('error', 'why failed', { error: (e as Error).message });
      return { status: 1, err: 'Your targets could not be looked up; try again later.\n' };
    }
  }
}
