/**
 * Browser login inside the SSH session (keyboard-interactive, RFC 4256): the gateway starts a login
 * request bound to this connection and to the user name the client asked for, shows its link and
 * short code as the prompt's instructions, and lets the session continue once the user has approved
 * it in the browser — when they press Enter (prompt mode), or as soon as the approval arrives (zero-
 * prompt mode: an INFO_REQUEST without prompts, which OpenSSH answers at once while the gateway waits).
 * Refusals are shown the same way, as text in the terminal, before the method fails.
 *
 * It also applies the operator's authentication chains (auth-chains.ts) after every factor, and runs
 * `cert`, the exec command that turns a public key on stdin into a certificate for a connection that
 * has just passed a browser login — a certificate without any client tool.
 */
import type { Auditor } from '../audit/auditor.ts';
import type { Clock } from '../clock.ts';
import { isAirlockError } from '../errors.ts';
import { normaliseUserCode, type BrowserLogins, type StartedLogin } from '../identity/browser-login.ts';
import { formatDuration } from '../duration.ts';
import type { Store, User } from '../store/repositories.ts';
import { parsePublicKey, type PublicKey } from '../ssh/keys.ts';
import { advertisedMethods, chainsFor, chainVerdict, firstFactorVerdict, type AuthChainPolicy, type AuthFactor, type ChainVerdict } from './auth-chains.ts';
import type { GatewayIdentity } from './auth.ts';

/** The part of ssh2's KeyboardAuthContext this module uses. */
export interface KeyboardPrompter {
  username: string;
  prompt(prompts: { prompt: string; echo: boolean }[], title: string, instructions: string, cb: (answers: string[] | Error) => void): void;
}

/** What this module needs of one gateway connection. */
export interface BrowserAuthConnection {
  /** Canonical client address. */
  address: string;
  /** Identifies the connection in audit records. */
  ref: string;
  /** The identity a first factor proved, when it succeeded partially (key then browser). */
  partial: GatewayIdentity | null;
  /** Set once a browser login was refused on this connection: no further link is handed out on it. */
  refused: boolean;
  /** Aborts when the connection closes. */
  signal: AbortSignal;
  /** Keeps the unauthenticated connection open for this long (the login grace time is shorter than a browser sign-in). */
  extendGrace(ms: number): void;
}

export type BrowserAuthOutcome =
  | { kind: 'accept'; identity: GatewayIdentity }
  /** `final`: the connection must end here — no other method may log it in after this refusal. */
  | { kind: 'reject'; reason: string; message: string; final?: boolean };

/** How the gateway waits for the browser: for Enter, or without a prompt. */
export type BrowserPromptMode = 'enter' | 'none';

/** What the CA offers the `cert` command. */
export interface CertificateIssuer {
  issueUserCertificate(req: { user: User; publicKey: PublicKey; method: string; clientAddress: string | null }): Promise<{ line: string; record: { serial: bigint; validBefore: number } }>;
}

export interface GatewayBrowserLoginDeps {
  logins: BrowserLogins;
  policy: AuthChainPolicy;
  prompt: BrowserPromptMode;
  store: Store;
  clock: Clock;
  audit: Auditor;
  ca?: CertificateIssuer | undefined;
}

const TITLE = 'Airlock browser login';
/** Most Enter presses one link allows (each re-checks the database once). */
const MAX_PROMPTS = 10;
/**
 * An empty answer this soon after the prompt was sent came from no person: ssh without a terminal
 * (a script, an IDE, `ssh … < /dev/null`) answers every prompt at once with an empty line, because
 * it cannot read one (OpenSSH read_passphrase without a TTY or askpass). After NO_TERMINAL_ANSWERS of
 * those in a row the gateway stops asking and waits for the approval without a prompt instead.
 */
const INSTANT_ANSWER_MS = 1_000;
const NO_TERMINAL_ANSWERS = 3;
/** A refusal message is shown; the client's (empty) answer is not waited for longer than this. */
const REFUSAL_ANSWER_MS = 10_000;
/** How long after the browser approval a connection may still mint certificates with `cert`. */
export const CERT_AFTER_BROWSER_MS = 60 * 60_000;
/** The longest public key `cert` reads from stdin. */
const MAX_PUBLIC_KEY_BYTES = 16 * 1024;
const CERT_STDIN_TIMEOUT_MS = 30_000;

/** Asks the client; resolves with the answers, or null when the connection went away or nobody answered in time. */
function ask(ctx: KeyboardPrompter, prompts: { prompt: string; echo: boolean }[], instructions: string, signal: AbortSignal, timeoutMs: number): Promise<string[] | null> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: string[] | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const onAbort = () => finish(null);
    const timer = setTimeout(() => finish(null), timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) {
      finish(null);
      return;
    }
    ctx.prompt(prompts, TITLE, instructions, (answers) => finish(answers instanceof Error ? null : answers));
  });
}

/** The instructions that carry the link and the code. */
export function loginInstructions(userName: string, started: StartedLogin, now: number, mode: BrowserPromptMode): string {
  return [
    `To log in as ${userName}, open this link in your browser, sign in and approve:`,
    '',
    `  ${started.url}`,
    '',
    `The page must show the code ${started.userCode}. The link works once, for ${formatDuration(Math.max(0, started.expiresAt - now))}.`,
    mode === 'enter' ? 'Then press Enter here.' : 'This session continues by itself once you approve.',
    '',
  ].join('\n');
}

/**
 * The prompt itself carries the link and the code. OpenSSH prints a keyboard-interactive request's
 * instructions to stderr, which it sends to /dev/null for a ProxyJump/ProxyCommand hop whenever
 * ControlPersist applies to the target (sshconnect.c ssh_proxy_connect) — the DSP guide's top-level
 * `ControlPersist` — while the prompt is read through /dev/tty (readpassphrase) and always shown.
 */
export function loginPrompt(started: StartedLogin, attempt: number): string {
  return `${attempt === 0 ? '' : 'Not approved yet. '}Open ${started.url} in your browser, approve code ${started.userCode}, then press Enter: `;
}

/** Browser login, authentication chains and the `cert` command for the gateway. */
export class GatewayBrowserLogin {
  readonly #d: GatewayBrowserLoginDeps;

  constructor(deps: GatewayBrowserLoginDeps) {
    this.#d = deps;
  }

  /** The SSH methods to advertise (the same for every user name). */
  get advertisedMethods(): ('publickey' | 'keyboard-interactive')[] {
    return advertisedMethods(this.#d.policy);
  }

  /** The chains that apply to a user now (an unknown user: the defaults). */
  async #chainsFor(user: User | undefined) {
    const projects = user === undefined ? [] : (await this.#d.store.projects.projectsOfUser(user.id)).map((p) => p.name);
    return chainsFor(this.#d.policy, user?.name ?? null, projects);
  }

  /** Whether `name` is an existing, enabled account. */
  async #isActiveUser(name: string): Promise<boolean> {
    const user = await this.#d.store.users.byName(name);
    return user !== undefined && !user.disabled;
  }

  /** After a certificate or key proved `identity`: accept, continue with a browser login (partial success), or refuse. */
  async afterFirstFactor(identity: GatewayIdentity): Promise<ChainVerdict> {
    return firstFactorVerdict(this.#d.policy, identity, (userId) => this.#d.store.projects.projectsOfUser(userId));
  }

  /**
   * One keyboard-interactive request: starts a login, shows link and code, waits for the approval, and
   * returns the identity (never throws; anything unexpected is a rejection, checklist item 15).
   */
  async keyboardInteractive(ctx: KeyboardPrompter, conn: BrowserAuthConnection): Promise<BrowserAuthOutcome> {
    if (conn.refused) return { kind: 'reject', reason: 'refused_earlier', message: 'a browser login was already refused on this connection' };
    const refuse = async (reason: string, message: string, final = false): Promise<BrowserAuthOutcome> => {
      conn.refused = true;
      // Zero prompts: OpenSSH prints the text and answers at once; then the method fails.
      await ask(ctx, [], `${message}\n`, conn.signal, REFUSAL_ANSWER_MS);
      return { kind: 'reject', reason, message, final };
    };
    // A denial is the account owner's explicit "no" to this connection. OpenSSH would otherwise go on to
    // its next method (a certificate, say) and log in after all, right below "Login denied" (issue 11):
    // the connection ends instead, and says so.
    const denied = () => refuse('denied', 'Login denied in the browser. This connection is closed: no other login method is tried on it. Connect again if the denial was a mistake.', true);
    const expired = () => refuse('expired', 'The login link expired before it was approved. This connection is closed; connect again for a new link.', true);
    try {
      const started = await this.#d.logins.start({ kind: 'ssh', userName: ctx.username, clientAddress: conn.address, connectionRef: conn.ref });
      // The link outlives the login grace time, but only a real, enabled account may keep the
      // unauthenticated slot that long: for any other name the grace time stands (issue 10 item 2: one
      // request for a made-up name used to hold a slot for the link's lifetime).
      if (conn.partial !== null || (await this.#isActiveUser(ctx.username))) conn.extendGrace(started.expiresAt - this.#d.clock.now() + REFUSAL_ANSWER_MS + 5_000);
      const lifetime = started.expiresAt - this.#d.clock.now() + 1_000;
      const instructions = loginInstructions(ctx.username, started, this.#d.clock.now(), this.#d.prompt);
      /** Waits for the decision without a prompt (zero-prompt keyboard-interactive); null once approved. */
      const waitWithoutPrompt = async (text: string): Promise<BrowserAuthOutcome | null> => {
        if ((await ask(ctx, [], text, conn.signal, lifetime)) === null) return { kind: 'reject', reason: 'aborted', message: 'the client went away' };
        const outcome = await this.#d.logins.wait(started.id, { signal: conn.signal });
        if (outcome === 'aborted') return { kind: 'reject', reason: 'aborted', message: 'the client went away' };
        if (outcome === 'denied') return denied();
        if (outcome === 'expired') return expired();
        return null;
      };
      if (this.#d.prompt === 'none') {
        const refused = await waitWithoutPrompt(instructions);
        if (refused !== null) return refused;
      } else {
        let text = instructions;
        let instant = 0;
        for (let i = 0; ; i++) {
          if (i >= MAX_PROMPTS) return refuse('too_many_prompts', `Still not approved after ${MAX_PROMPTS} tries. This connection is closed; connect again for a new link, and press Enter only after approving in the browser.`, true);
          const askedAt = this.#d.clock.now();
          const answers = await ask(ctx, [{ prompt: loginPrompt(started, i), echo: true }], text, conn.signal, lifetime);
          if (answers === null) return { kind: 'reject', reason: 'aborted', message: 'the client went away or did not answer' };
          const answeredIn = this.#d.clock.now() - askedAt;
          const typed = (answers[0] ?? '').trim();
          // Typing a code is optional; a code from another connection's login is refused outright.
          if (typed !== '' && normaliseUserCode(typed) !== normaliseUserCode(started.userCode)) {
            return refuse('code_mismatch', 'That code belongs to another login, not to this connection. This connection is closed; connect again and use the link shown for it.', true);
          }
          const st = await this.#d.logins.check(started.id);
          if (st === 'approved' || st === 'consumed') break;
          if (st === 'denied') return denied();
          if (st === 'expired') return expired();
          instant = typed === '' && answeredIn < INSTANT_ANSWER_MS ? instant + 1 : 0;
          if (instant >= NO_TERMINAL_ANSWERS) {
            // No terminal to press Enter in: wait for the approval instead of asking again (issue 11 saw ~30 loops).
            const refused = await waitWithoutPrompt(`No one can press Enter here (ssh has no terminal), so this session now waits for your approval and continues by itself. Open the link, sign in as ${ctx.username} and approve the code ${started.userCode}:\n\n  ${started.url}\n`);
            if (refused !== null) return refused;
            break;
          }
          text = `Not approved yet. Open the link, sign in as ${ctx.username} and approve the code ${started.userCode}:\n\n  ${started.url}\n`;
        }
      }
      const done = await this.#d.logins.complete(started.id);
      if (!done.ok) return refuse(done.reason, 'This login cannot be completed (it was already used, or the account changed). Connect again.');
      if (done.user.name !== ctx.username || (conn.partial !== null && conn.partial.user.id !== done.user.id)) {
        return refuse('wrong_user', 'The approval was for another user.');
      }
      const passed: AuthFactor[] = conn.partial === null ? ['browser'] : [conn.partial.method, 'browser'];
      if (chainVerdict(await this.#chainsFor(done.user), passed) !== 'accept') {
        return refuse('chain_not_allowed', conn.partial === null
          ? `The account ${done.user.name} cannot log in with a browser login alone here; use your key or certificate first.`
          : 'This combination of login methods is not allowed for your account.');
      }
      const approvedAt = this.#d.clock.now();
      const identity: GatewayIdentity = conn.partial === null
        ? { user: done.user, method: 'browser', serial: null, keyId: null, fingerprint: '', validBefore: null, browserApprovedAt: approvedAt, browserMethod: done.method }
        : { ...conn.partial, user: done.user, browserApprovedAt: approvedAt, browserMethod: done.method };
      return { kind: 'accept', identity };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      // Too many logins started from this address or in total: say so (the message names when to retry).
      if (isAirlockError(err, 'throttled')) return refuse('rate_limited', err.message);
      try {
        return await refuse('internal', 'The browser login is unavailable right now; try again later.');
      } catch {
        return { kind: 'reject', reason: 'internal', message };
      }
    }
  }

  /**
   * `ssh USER@GATEWAY cert < KEY.pub`: a certificate for the key on stdin, under the CA's usual policy
   * and quota, for a connection that passed a browser login within CERT_AFTER_BROWSER_MS.
   */
  async certCommand(identity: GatewayIdentity, stdin: NodeJS.ReadableStream, clientAddress: string): Promise<{ status: number; out: string; err: string }> {
    if (this.#d.ca === undefined) return { status: 1, out: '', err: 'Certificates are not issued at this gateway.\n' };
    const approvedAt = identity.browserApprovedAt ?? null;
    if (approvedAt === null) {
      return { status: 1, out: '', err: '"cert" needs a browser login on this connection: log in with the browser (keyboard-interactive, without BatchMode) and run it again.\n' };
    }
    if (this.#d.clock.now() - approvedAt > CERT_AFTER_BROWSER_MS) {
      return { status: 1, out: '', err: `The browser login on this connection is older than ${formatDuration(CERT_AFTER_BROWSER_MS)}; reconnect and approve again.\n` };
    }
    let text: string;
    try {
      text = await readStdin(stdin, MAX_PUBLIC_KEY_BYTES, CERT_STDIN_TIMEOUT_MS);
    } catch (err) {
      return { status: 1, out: '', err: `${(err as Error).message}\n` };
    }
    let publicKey: PublicKey;
    try {
      publicKey = parsePublicKey(text.trim());
    } catch (err) {
      return { status: 1, out: '', err: `${isAirlockError(err) ? err.message : 'That is not an SSH public key.'} Usage: ssh USER@GATEWAY cert < ~/.ssh/id_ed25519.pub > ~/.ssh/id_ed25519-cert.pub\n` };
    }
    try {
      const issued = await this.#d.ca.issueUserCertificate({ user: identity.user, publicKey, method: 'browser', clientAddress });
      return {
        status: 0, out: `${issued.line}\n`,
        err: `Certificate ${issued.record.serial} for ${identity.user.name}, valid until ${new Date(issued.record.validBefore).toISOString()}.\n`,
      };
    } catch (err) {
      if (isAirlockError(err)) return { status: 1, out: '', err: `${err.message}\n` };
      return { status: 1, out: '', err: 'The certificate could not be issued; try again later.\n' };
    }
  }
}

/** Reads a stream to its end, refusing more than `max` bytes or more than `timeoutMs`. */
function readStdin(stream: NodeJS.ReadableStream, max: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      clearTimeout(timer);
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
    };
    const onData = (chunk: Buffer | string) => {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      size += b.length;
      if (size > max) {
        cleanup();
        reject(new Error(`The public key on stdin is longer than ${max} bytes.`));
        return;
      }
      chunks.push(b);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error('No public key arrived on stdin. Usage: ssh USER@GATEWAY cert < ~/.ssh/id_ed25519.pub > ~/.ssh/id_ed25519-cert.pub'));
    }, timeoutMs);
    stream.on('data', onData);
    stream.on('end', onEnd);
  });
}
