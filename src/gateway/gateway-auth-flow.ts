/**
 * The gateway's authentication flow over ssh2's `authentication` events: publickey (certificates and
 * registered keys, auth.ts), keyboard-interactive (the browser login, browser-login.ts), the operator's
 * chains (auth-chains.ts), MaxAuthTries, the per-user and per-address connection limits at the moment a
 * login would succeed (admission.ts), and the audit of each attempt. A login that cannot be audited does
 * not happen. Listeners that need a further decision before the login is accepted (a job port's
 * ownership) pass `authorize`.
 */
import type { AuthContext } from 'ssh2';
import { auditAuth, GatewayAuthenticator, limitSessionAge, type GatewayIdentity } from './auth.ts';
import { firstFactorVerdict } from './auth-chains.ts';
import { SessionLimits } from './admission.ts';
import { GatewayBrowserLogin, type BrowserAuthConnection, type KeyboardPrompter } from './browser-login.ts';
import type { Conn, GatewayContext } from './gateway-conn.ts';
import type { PenaltyKind } from './preauth-limits.ts';
import { revokedBanner } from './revocation-banner.ts';
import { DISCONNECT, disconnectWithMessage } from './ssh2-disconnect.ts';
import { sendAuthBanner } from './ssh2-internals.ts';

/** A listener's last word on a login that has otherwise succeeded: refused with a reason the user reads. */
export type LoginAuthorizer = (conn: Conn, identity: GatewayIdentity) => Promise<{ ok: true } | { ok: false; reason: string; message: string }>;

/** Authentication for the gateway's connections, shared by the main listener and the job listeners. */
export class GatewayAuthFlow {
  readonly #ctx: GatewayContext;
  readonly auth: GatewayAuthenticator;
  readonly browser: GatewayBrowserLogin | null;
  readonly sessions: SessionLimits;
  readonly #penalise: (conn: Conn, kind: PenaltyKind) => void;

  constructor(ctx: GatewayContext, penalise: (conn: Conn, kind: PenaltyKind) => void) {
    this.#ctx = ctx;
    this.#penalise = penalise;
    const deps = ctx.deps;
    this.auth = new GatewayAuthenticator({ store: deps.store, clock: deps.clock, userCaKey: deps.userCaKey, keys: deps.keys, methods: deps.config.authMethods });
    this.browser = deps.browserLogin === undefined ? null : new GatewayBrowserLogin({
      logins: deps.browserLogin.logins, ca: deps.browserLogin.ca, policy: deps.config.authChains, prompt: deps.config.browserPrompt,
      store: deps.store, clock: deps.clock, audit: deps.audit,
    });
    this.sessions = new SessionLimits({
      maxConnectionsPerUser: deps.config.maxConnectionsPerUser,
      maxConnectionsPerAddress: deps.config.maxConnectionsPerAddress,
      maxChannelsPerUser: deps.config.maxChannelsPerUser,
    });
  }

  /** The methods offered after a failure: the same for every user name (auth-chains.ts). */
  get advertised(): ('publickey' | 'keyboard-interactive')[] {
    return this.browser?.advertisedMethods ?? this.auth.advertisedMethods;
  }

  /** Handles one `authentication` event of `conn`; `authorize` may still refuse a login that succeeded. */
  async onAuth(conn: Conn, ctx: AuthContext, authorize?: LoginAuthorizer): Promise<void> {
    const d = this.#ctx.deps;
    if (ctx.method === 'keyboard-interactive' && this.advertised.includes('keyboard-interactive')) {
      await this.#onBrowserAuth(conn, ctx, authorize);
      return;
    }
    if (ctx.method !== 'publickey') {
      // 'none' is how a client asks for the method list: not an attempt.
      if (ctx.method === 'none') {
        ctx.reject(this.advertised);
        return;
      }
      const method = String(ctx.method);
      await this.#failAttempt(conn, ctx, () => d.audit.record({
        type: 'gateway.auth', outcome: 'denied', actor: ctx.username.slice(0, 256), clientAddress: conn.address,
        details: { method, reason: 'method_not_enabled', message: `${method} login is not offered; use an Airlock certificate` },
      }));
      return;
    }
    const outcome = await this.auth.decide({
      username: ctx.username,
      clientAddress: conn.address,
      keyAlgo: ctx.key.algo,
      keyData: ctx.key.data,
      hashAlgo: ctx.hashAlgo,
      signature: ctx.signature,
      signedData: ctx.blob,
    });
    if (conn.socket.destroyed) return;
    if (outcome.kind === 'pk_ok') {
      // Without a signature, accept() only answers PK_OK ("this key would do"): never a login.
      if (ctx.signature === undefined) ctx.accept();
      else ctx.reject(this.advertised);
      return;
    }
    if (outcome.kind === 'reject') {
      // auth.ts judges revocation only after the signature: the key's holder learns why (revocation-banner.ts).
      if (outcome.reason === 'revoked' && ctx.signature !== undefined && outcome.serial !== undefined && conn.client !== null) sendAuthBanner(conn.client, revokedBanner(outcome.serial));
      await this.#failAttempt(conn, ctx, () => auditAuth(d.audit, outcome, { username: ctx.username, clientAddress: conn.address }));
      return;
    }
    if (ctx.signature === undefined) {
      ctx.reject(this.advertised);
      return;
    }
    {
      // The operator's chains: this factor alone may suffice, or only together with a browser login.
      // Without the browser-login module the chains still apply (a chain that needs a browser login
      // then cannot be completed and is refused): they must never fail open.
      let verdict: Awaited<ReturnType<GatewayBrowserLogin['afterFirstFactor']>> = 'refuse';
      try {
        verdict = this.browser !== null
          ? await this.browser.afterFirstFactor(outcome.identity)
          : await firstFactorVerdict(this.#ctx.cfg.authChains, outcome.identity, (userId) => d.store.projects.projectsOfUser(userId));
      } catch (err) {
        this.#ctx.log('error', 'authentication chain check failed; login refused', { error: (err as Error).message });
      }
      if (conn.socket.destroyed) return;
      if (verdict === 'continue_with_browser' && this.browser === null) verdict = 'refuse';
      if (verdict === 'continue_with_browser') {
        this.#browserConn(conn).partial = outcome.identity;
        this.#ctx.audit({
          type: 'gateway.auth', outcome: 'success', actor: outcome.identity.user.name, clientAddress: conn.address,
          details: { method: outcome.identity.method, fingerprint: outcome.identity.fingerprint, partial: true, next: 'browser' },
        });
        ctx.reject(['keyboard-interactive'], true);
        return;
      }
      if (verdict === 'refuse') {
        const identity = outcome.identity;
        await this.#failAttempt(conn, ctx, () => d.audit.record({
          type: 'gateway.auth', outcome: 'denied', actor: identity.user.name, clientAddress: conn.address,
          details: { method: identity.method, reason: 'chain_not_allowed', message: `${identity.method} alone is not a login method for this account`, fingerprint: identity.fingerprint },
        }));
        return;
      }
    }
    await this.#completeLogin(conn, ctx, outcome.identity, authorize, () => auditAuth(d.audit, outcome, { username: ctx.username, clientAddress: conn.address }));
  }

  /**
   * The last steps of every login, whatever its method: the listener's own decision, the per-user
   * limits, the success record, then the session. A login that cannot be recorded does not happen
   * (checklist 15).
   */
  async #completeLogin(conn: Conn, ctx: AuthContext, identity: GatewayIdentity, authorize: LoginAuthorizer | undefined, record: () => Promise<void>): Promise<void> {
    if (!(await this.#authorized(conn, identity, authorize))) return;
    if (!(await this.#admitSession(conn, identity))) return;
    try {
      await record();
    } catch (err) {
      this.#ctx.log('error', 'audit failed; login refused', { error: (err as Error).message });
      conn.sessionRelease?.();
      conn.sessionRelease = null;
      ctx.reject(this.advertised);
      return;
    }
    if (conn.socket.destroyed) return;
    conn.identity = limitSessionAge(identity, this.#ctx.deps.clock.now(), this.#ctx.cfg.maxSessionMs);
    this.#ctx.counters.logins++;
    ctx.accept();
  }

  /** The browser-login state of a connection, created on first use. */
  #browserConn(conn: Conn): BrowserAuthConnection {
    if (conn.browser === null) {
      const closed = new AbortController();
      conn.socket.once('close', () => closed.abort());
      conn.browser = {
        address: conn.address, ref: `${conn.address} port ${conn.port}`, partial: null, refused: false, signal: closed.signal,
        extendGrace: (ms) => {
          // A browser sign-in takes longer than the login grace time: keep the connection for the link's lifetime.
          if (conn.graceTimer === null || conn.identity !== null) return;
          clearTimeout(conn.graceTimer);
          // A real account's browser sign-in takes time; a slow person is not charged for it.
          conn.since = Number.POSITIVE_INFINITY;
          conn.graceTimer = setTimeout(() => {
            conn.graceTimer = null;
            if (conn.identity === null) {
              this.#penalise(conn, 'grace');
              conn.socket.destroy();
            }
          }, ms);
        },
      };
    }
    return conn.browser;
  }

  /** keyboard-interactive: the browser login (browser-login.ts), alone or after a key. */
  async #onBrowserAuth(conn: Conn, ctx: KeyboardPrompter & AuthContext, authorize: LoginAuthorizer | undefined): Promise<void> {
    const d = this.#ctx.deps;
    const outcome = await this.browser!.keyboardInteractive(ctx, this.#browserConn(conn));
    if (conn.socket.destroyed) return;
    if (outcome.kind === 'reject') {
      await this.#failAttempt(conn, ctx, () => d.audit.record({
        type: 'gateway.auth', outcome: outcome.reason === 'internal' ? 'failure' : 'denied', actor: ctx.username.slice(0, 256), clientAddress: conn.address,
        details: { method: 'browser', reason: outcome.reason, message: outcome.message },
      }));
      // A final refusal (a denial in the browser, …) ends the connection: no other method may log it in.
      if (outcome.final === true) conn.client?.end();
      return;
    }
    const id = outcome.identity;
    await this.#completeLogin(conn, ctx, id, authorize, () => d.audit.record({
      type: 'gateway.auth', outcome: 'success', actor: id.user.name, clientAddress: conn.address,
      details: { method: id.method === 'browser' ? 'browser' : `${id.method}+browser`, approved_with: id.browserMethod ?? null, ...(id.fingerprint ? { fingerprint: id.fingerprint } : {}) },
    }));
  }

  /**
   * The listener's own decision (a job's ownership): a refusal is audited and the connection ends with
   * the reason, which OpenSSH prints; other methods could not change the answer.
   */
  async #authorized(conn: Conn, id: GatewayIdentity, authorize: LoginAuthorizer | undefined): Promise<boolean> {
    if (authorize === undefined) return true;
    let verdict: Awaited<ReturnType<LoginAuthorizer>>;
    try {
      verdict = await authorize(conn, id);
    } catch (err) {
      this.#ctx.log('error', 'login authorisation failed; login refused', { error: (err as Error).message });
      verdict = { ok: false, reason: 'internal', message: 'Your access could not be checked; try again later.' };
    }
    if (verdict.ok) return !conn.socket.destroyed;
    conn.failures++;
    try {
      await this.#ctx.deps.audit.record({
        type: 'gateway.auth', outcome: 'denied', actor: id.user.name, clientAddress: conn.address,
        details: { method: id.method, reason: verdict.reason, message: verdict.message },
      });
    } catch (err) {
      this.#ctx.log('error', 'audit of a refused login failed', { error: (err as Error).message });
    }
    if (conn.socket.destroyed) return false;
    disconnectWithMessage(conn.client, conn.socket, verdict.message, DISCONNECT.byApplication);
    return false;
  }

  /**
   * The per-user and per-address limits on authenticated connections (admission.ts), checked when a
   * login would succeed: over the limit, the client is disconnected with the reason, which OpenSSH prints
   * ("Received disconnect from …: Too many connections for alice: …"). A proven user is not penalised.
   */
  async #admitSession(conn: Conn, id: GatewayIdentity): Promise<boolean> {
    const verdict = this.sessions.openConnection(id.user.id, id.user.name, conn.address);
    if (verdict.ok) {
      if (conn.socket.destroyed) verdict.release();
      else conn.sessionRelease = verdict.release;
      return !conn.socket.destroyed;
    }
    conn.penalised = true;
    try {
      await this.#ctx.deps.audit.record({
        type: 'gateway.auth', outcome: 'denied', actor: id.user.name, clientAddress: conn.address,
        details: { method: id.method, reason: verdict.reason, limit: verdict.limit, message: verdict.message },
      });
    } catch (err) {
      this.#ctx.log('error', 'audit of a refused login failed', { error: (err as Error).message });
    }
    disconnectWithMessage(conn.client, conn.socket, verdict.message, DISCONNECT.tooManyConnections);
    return false;
  }

  async #failAttempt(conn: Conn, ctx: AuthContext, record: () => Promise<void>): Promise<void> {
    conn.failures++;
    try {
      await record();
    } catch (err) {
      this.#ctx.log('error', 'audit of a refused login failed', { error: (err as Error).message });
    }
    if (conn.socket.destroyed) return;
    ctx.reject(this.advertised);
    if (conn.failures >= this.#ctx.cfg.maxAuthTries) {
      // OpenSSH MaxAuthTries: "Too many authentication failures".
      conn.client?.end();
    }
  }
}
