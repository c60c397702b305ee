/**
 * direct-tcpip channels (`ssh -J`, `-W`, `-L`) through the gateway: per-connection and per-user channel
 * limits, authorisation checked again at every open (auth.ts recheck), the certificate's
 * no-port-forwarding restriction, the forwarding policy and the connection (dialer.ts), the data path
 * (channel-relay.ts), registration with the live-connection registry so that taking access away ends
 * the channel, and one audit record per channel with its bytes and duration.
 */
import { networkInterfaces } from 'node:os';
import type { RejectConnection, ServerChannel } from 'ssh2';
import type { Target } from '../inventory/ports.ts';
import type { OwnListener } from '../policy/forward.ts';
import type { GatewayAuthenticator } from './auth.ts';
import type { SessionLimits } from './admission.ts';
import { forwardingRefusal } from './certificate-restrictions.ts';
import { dial, type DialResult } from './dialer.ts';
import { noop, type Conn, type GatewayContext } from './gateway-conn.ts';
import { rekeyIfDue } from './gateway-rekey.ts';
import type { LiveRegistry } from './live-registry.ts';
import { OPEN_FAILURE } from './ssh2-internals.ts';

/** Concurrent channels per connection (checklist 10: bounded resources). */
const MAX_CHANNELS_PER_CONNECTION = 64;
/** A half-closed onward socket whose peer never closes is destroyed after this much idle time. */
const LINGER_MS = 30_000;
const LOCAL_ADDRESSES_TTL_MS = 10_000;

export interface ForwardChannelDeps {
  auth: GatewayAuthenticator;
  sessions: SessionLimits;
  registry: LiveRegistry;
  /** The gateway's own SSH listener (forwarding must never reach it). */
  ownAddress: () => { host: string; port: number };
}

/** Opens direct-tcpip channels for authenticated connections and answers the forwarding questions of the lobby. */
export class ForwardChannels {
  readonly #ctx: GatewayContext;
  readonly #d: ForwardChannelDeps;
  #localAddresses: { at: number; list: string[] } | null = null;

  constructor(ctx: GatewayContext, deps: ForwardChannelDeps) {
    this.#ctx = ctx;
    this.#d = deps;
  }

  /** The user's targets now (an inventory outage denies, it never widens). */
  async targets(conn: Conn, liveAt = this.#ctx.deps.clock.now()): Promise<Target[]> {
    if (this.#ctx.deps.inventory === undefined) return [];
    return this.#ctx.deps.inventory.targetsForUser(conn.identity!.user.id, liveAt);
  }

  /** The process's listeners that forwarding must never reach. */
  ownListeners(): OwnListener[] {
    const own = this.#d.ownAddress();
    return [{ address: this.#ctx.deps.listen.host, port: own.port }, ...(this.#ctx.deps.otherListeners?.() ?? [])];
  }

  /** The host's interface addresses (cached briefly), which forwarding must never reach either. */
  localAddressList(): string[] {
    const now = Date.now();
    if (this.#localAddresses === null || now - this.#localAddresses.at > LOCAL_ADDRESSES_TTL_MS) {
      const list: string[] = [];
      for (const entries of Object.values(networkInterfaces())) for (const e of entries ?? []) list.push(e.address);
      this.#localAddresses = { at: now, list };
    }
    return this.#localAddresses.list;
  }

  /** The forwarding decision and connection for one request: direct-tcpip channels and `why` both use it. */
  dial(conn: Conn, targets: Target[], host: string, port: number): Promise<DialResult> {
    return dial({
      targets, host, port, clientAddress: conn.address,
      ownListeners: this.ownListeners(), localAddresses: this.localAddressList(), now: this.#ctx.deps.clock.now(),
      allowLoopback: this.#ctx.cfg.allowLoopbackTargets,
    }, { connectTimeoutMs: this.#ctx.cfg.connectTimeoutMs, ...(this.#ctx.deps.resolve ? { resolve: this.#ctx.deps.resolve } : {}) });
  }

  /** One direct-tcpip channel open request. */
  async open(conn: Conn, accept: () => ServerChannel, reject: RejectConnection, req: { destIP: string; destPort: number; srcIP: string; srcPort: number }): Promise<void> {
    const ctx = this.#ctx;
    const hooks = conn.hooks!;
    const requested = { host: String(req.destIP).slice(0, 256), port: req.destPort };
    if (conn.channels >= MAX_CHANNELS_PER_CONNECTION) {
      hooks.rejectWith(reject, OPEN_FAILURE.resourceShortage, `At most ${MAX_CHANNELS_PER_CONNECTION} channels per connection.`);
      return;
    }
    const perUser = this.#d.sessions.openChannel(conn.identity!.user.id, conn.identity!.user.name);
    if (!perUser.ok) {
      hooks.rejectWith(reject, OPEN_FAILURE.resourceShortage, perUser.message);
      ctx.audit({ type: 'gateway.channel', outcome: 'denied', actor: conn.identity!.user.name, clientAddress: conn.address, details: { channel: 'direct-tcpip', ...requested, reason: perUser.reason, limit: perUser.limit } });
      return;
    }
    conn.channels++;
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        conn.channels--;
        perUser.release();
      }
    };
    const check = await this.#d.auth.recheck(conn.identity!);
    if (!check.ok) {
      release();
      hooks.rejectWith(reject, OPEN_FAILURE.prohibited, check.message);
      ctx.audit({ type: 'gateway.channel', outcome: 'denied', actor: conn.identity!.user.name, clientAddress: conn.address, details: { channel: 'direct-tcpip', ...requested, reason: check.reason } });
      return;
    }
    const noForwarding = forwardingRefusal(conn.identity!);
    if (noForwarding !== undefined) {
      release();
      hooks.rejectWith(reject, OPEN_FAILURE.prohibited, noForwarding);
      ctx.audit({ type: 'gateway.channel', outcome: 'denied', actor: conn.identity!.user.name, clientAddress: conn.address, details: { channel: 'direct-tcpip', ...requested, reason: 'no_port_forwarding', message: noForwarding } });
      return;
    }
    let targets: Target[];
    try {
      targets = await this.targets(conn);
    } catch (err) {
      release();
      hooks.rejectWith(reject, OPEN_FAILURE.prohibited, 'Your targets could not be looked up; try again later.');
      ctx.audit({ type: 'gateway.channel', outcome: 'failure', actor: conn.identity!.user.name, clientAddress: conn.address, details: { channel: 'direct-tcpip', ...requested, reason: 'internal', message: (err as Error).message } });
      return;
    }
    const result = await this.dial(conn, targets, requested.host, requested.port);
    const user = conn.identity!.user.name;
    if (!result.ok) {
      release();
      if (result.stage === 'policy') {
        hooks.rejectWith(reject, OPEN_FAILURE.prohibited, result.decision.message);
        ctx.audit({
          type: 'gateway.channel', outcome: 'denied', actor: user, clientAddress: conn.address,
          details: { channel: 'direct-tcpip', ...requested, reason: result.decision.reason, ...(result.decision.forbidden ? { forbidden: result.decision.forbidden } : {}), message: result.decision.message },
        });
      } else {
        hooks.rejectWith(reject, OPEN_FAILURE.connectFailed, result.message);
        ctx.audit({
          type: 'gateway.channel', outcome: 'failure', actor: user, clientAddress: conn.address,
          details: { channel: 'direct-tcpip', ...requested, target: result.target.name, address: result.address, reason: result.reason, message: result.message },
        });
      }
      return;
    }
    const socket = result.socket;
    // ssh2's accept() returns nothing once the connection is gone or the request was answered.
    const channel = conn.socket.destroyed ? undefined : (accept() as ServerChannel | undefined);
    if (channel === undefined) {
      release();
      socket.destroy();
      return;
    }
    ctx.counters.channels++;
    const openedAt = ctx.deps.clock.now();
    const live = conn.live;
    if (live !== undefined) {
      this.#d.registry.addChannel(live, {
        channel, target: result.target, host: requested.host, port: requested.port, address: result.address, openedAt,
        close: () => {
          socket.destroy();
          if (conn.socket.writable) channel.close();
        },
      });
    }
    let closedParts = 0;
    const finished = () => {
      if (++closedParts < 2) return;
      release();
      ctx.counters.channels--;
      if (ctx.counters.channels === 0) for (const wake of ctx.waiters.channels.splice(0)) wake();
      ctx.audit({
        type: 'gateway.channel', outcome: 'success', actor: user, clientAddress: conn.address,
        details: {
          channel: 'direct-tcpip', ...requested, target: result.target.name, project: result.target.projectName, address: result.address,
          bytes_in: socket.bytesWritten, bytes_out: socket.bytesRead, duration_ms: ctx.deps.clock.now() - openedAt,
        },
      });
    };
    socket.on('error', noop);
    channel.on('error', noop);
    // Client to target: straight from ssh2's decryption into the socket (channel-relay.ts), with the
    // channel's window as backpressure. Target to client: pipe(), which pauses the socket while the
    // channel's window is used up. The client's EOF ends the socket, as pipe() would.
    conn.relays!.add(channel, socket);
    channel.once('end', () => socket.end());
    channel.resume();
    socket.pipe(channel);
    socket.on('data', () => rekeyIfDue(conn));
    socket.once('close', () => {
      // A reset target never sends 'end', so pipe() would not end the channel.
      channel.end();
      finished();
    });
    channel.once('close', () => {
      socket.end();
      socket.setTimeout(LINGER_MS, () => socket.destroy());
      finished();
    });
  }
}
