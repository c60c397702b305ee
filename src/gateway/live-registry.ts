/**
 * The live registry: every authenticated gateway connection and its open direct-tcpip channels — who
 * (the identity, with certificate serial), from where, to which target and address, since when — so
 * that access taken away after a channel opened can end what is already running (issue 10, item 5):
 * checks at channel open alone let an open channel relay on after revocation, and with ControlMaster
 * on a target a researcher's new sessions ride inside that one channel.
 *
 * It also keeps one timer per connection (its certificate's `validBefore` or its maximum session age)
 * and one per channel (its target's expiry), so that expiry ends things on time with no database
 * change at all. A timer only asks for a re-check (`onDue`); the rules themselves live in auth.ts and
 * the forwarding policy, applied by live-watcher.ts.
 */
import type { Target } from '../inventory/ports.ts';
import type { GatewayIdentity } from './auth.ts';
import { loginDeadline } from './auth.ts';

/** setTimeout's longest delay (about 24.8 days); later deadlines are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Something that emits 'close' once (a socket, an ssh2 channel). */
interface Closable {
  once(event: 'close', fn: () => void): unknown;
}

export interface LiveConnectionInit {
  /** The connection's socket: the entry goes when it closes. */
  socket: Closable;
  identity: GatewayIdentity;
  clientAddress: string;
  openedAt: number;
  /** Session (lobby) channels open now. */
  sessions: () => number;
  /** Ends the connection, telling the client `message` (SSH_MSG_DISCONNECT). */
  end: (message: string) => void;
  /** Bytes received from and sent to the client so far (the operators' connections page). */
  bytes?: () => { in: number; out: number };
  /**
   * A rule besides the login that this connection's access rests on, re-checked with it (a job port:
   * the user still owns the job). `internal` = could not be checked now (nothing is ended).
   */
  access?: () => Promise<AccessCheck>;
}

/** The outcome of a connection's own access rule (LiveConnectionInit.access). */
export type AccessCheck = { ok: true } | { ok: false; reason: string; message: string };

export interface LiveChannelInit {
  /** The ssh2 channel: the entry goes when it closes. */
  channel: Closable;
  /** The target as it was when the channel opened. */
  target: Target;
  /** The host and port the client asked for. */
  host: string;
  port: number;
  /** The address actually dialled. */
  address: string;
  openedAt: number;
  /** Closes the channel and its onward socket at once. */
  close: () => void;
}

export interface LiveChannel extends LiveChannelInit {
  closed: boolean;
}

export interface LiveConnection extends LiveConnectionInit {
  channels: Set<LiveChannel>;
  ended: boolean;
}

/** Arms `fn` at epoch ms `at` by `now()`, in steps no longer than setTimeout allows; returns a canceller. */
function armAt(at: number, now: () => number, fn: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const delay = at - now();
    // Node's timers may fire a millisecond before the wall clock reaches `at`: re-arm until it has.
    if (delay <= 0) {
      fn();
      return;
    }
    timer = setTimeout(arm, Math.min(delay, MAX_TIMER_MS));
    // A deadline never keeps the process alive by itself.
    timer.unref();
  };
  // Asynchronously even when already due, so that the caller has finished registering.
  timer = setTimeout(arm, 0);
  timer.unref();
  return () => clearTimeout(timer);
}

/** Authenticated connections and their forward channels, with expiry timers. */
export class LiveRegistry {
  readonly #conns = new Set<LiveConnection>();
  readonly #now: () => number;
  readonly #onDue: (conn: LiveConnection) => void;

  /** `onDue` runs when a connection's login or one of its channels' targets reaches its end by time. */
  constructor(now: () => number, onDue: (conn: LiveConnection) => void) {
    this.#now = now;
    this.#onDue = onDue;
  }

  /** Registers an authenticated connection; it leaves the registry when its socket closes. */
  add(init: LiveConnectionInit): LiveConnection {
    const conn: LiveConnection = { ...init, channels: new Set(), ended: false };
    this.#conns.add(conn);
    const deadline = loginDeadline(init.identity);
    const cancel = deadline === null ? undefined : armAt(deadline, this.#now, () => this.#onDue(conn));
    init.socket.once('close', () => {
      cancel?.();
      this.#conns.delete(conn);
    });
    return conn;
  }

  /** Registers an open direct-tcpip channel of `conn`; it leaves the registry when the channel closes. */
  addChannel(conn: LiveConnection, init: LiveChannelInit): LiveChannel {
    const ch: LiveChannel = { ...init, closed: false };
    conn.channels.add(ch);
    const expires = init.target.expiresAt;
    const cancel = expires === null ? undefined : armAt(expires, this.#now, () => this.#onDue(conn));
    init.channel.once('close', () => {
      cancel?.();
      conn.channels.delete(ch);
    });
    return ch;
  }

  /** The live connections now. */
  connections(): LiveConnection[] {
    return [...this.#conns];
  }

  get size(): number {
    return this.#conns.size;
  }
}
