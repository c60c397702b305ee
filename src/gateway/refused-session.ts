/**
 * A session channel whose connection may no longer be used (certificate revoked or expired, account
 * disabled — auth.ts `recheck`) is accepted only to say so: its shell or command prints the reason on
 * stderr and exits 1, and nothing else happens on it. A refused channel open would say the same in its
 * description, but OpenSSH's mux client (every `ssh` that reuses a ControlMaster connection, including
 * the generated config's `why`) replaces it with "Session open refused by peer" (mux.c).
 */
import type { ServerChannel, Session } from 'ssh2';

/** Exit status of a session that only told its refusal. */
export const REFUSED_STATUS = 1;

/** Answers the session's first shell or exec with `message` on stderr and exit status 1; refuses every other request. */
export function tellRefusal(session: Session, message: string): void {
  let told = false;
  const tell = (ch: ServerChannel, pty: boolean) => {
    if (told) return;
    told = true;
    ch.on('error', () => undefined);
    const text = `Airlock gateway: ${message}\n`;
    ch.stderr.write(pty ? text.replace(/\n/g, '\r\n') : text);
    ch.exit(REFUSED_STATUS);
    ch.end();
  };
  let pty = false;
  session.on('pty', (ok: (() => void) | undefined) => {
    pty = true;
    ok?.();
  });
  session.on('shell', (ok: () => ServerChannel) => tell(ok(), pty));
  session.on('exec', (ok: () => ServerChannel) => tell(ok(), pty));
  for (const ev of ['env', 'x11', 'auth-agent', 'subsystem', 'signal', 'window-change'] as const) {
    session.on(ev, (_ok: unknown, no: (() => void) | undefined) => no?.());
  }
}
