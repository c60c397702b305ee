/**
 * A long-lived OpenSSH session for tests that end sessions from the server side (revocation, target
 * removal, maximum age, an operator, a crashed replica): `ssh` runs a remote command that prints
 * "ready" and then reads stdin, which is kept open and never written, so the command ends with the
 * session and nothing lingers on the target.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/** How a held session ended. */
export interface SessionEnd {
  code: number | null;
  /** `performance.now()` when the ssh process exited (for "within a second" measurements). */
  at: number;
  /** `Date.now()` at the same moment (to compare with audit records). */
  epochMs: number;
  /** Everything ssh wrote to stderr (read to the end). */
  stderr: string;
}

/** Functions are properties (not methods): tests pass `kill` around on its own. */
export interface HeldSshSession {
  /** Resolves once the remote command runs; rejects if ssh exits first. */
  ready: Promise<void>;
  /** Resolves when ssh has exited and its output is closed. */
  exited: Promise<SessionEnd>;
  /** `exited`, or a rejection with `what` when it takes longer than `timeoutMs`. */
  exitedWithin: (timeoutMs: number, what: string) => Promise<SessionEnd>;
  /** What ssh wrote to stderr so far. */
  stderr: () => string;
  child: ChildProcessWithoutNullStreams;
  /** SIGKILL, for clean-up (a no-op once ssh has exited). */
  kill: () => void;
}

/** Runs `ssh -F CONFIG [OPTIONS] HOST` with no agent and holds the session open until the server ends it. */
export function holdSshSession(config: string, host: string, sshOptions: string[] = []): HeldSshSession {
  const child = spawn('ssh', ['-F', config, ...sshOptions, host, 'echo ready; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SSH_AUTH_SOCK: '' } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.once('exit', () => reject(new Error(`ssh exited early: ${stderr}`)));
  });
  const exited = new Promise<SessionEnd>((resolve) => {
    child.once('exit', (code) => {
      const at = performance.now();
      const epochMs = Date.now();
      child.once('close', () => resolve({ code, at, epochMs, stderr }));
    });
  });
  const exitedWithin = async (timeoutMs: number, what: string): Promise<SessionEnd> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([exited, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), timeoutMs)))]);
    } finally {
      clearTimeout(timer);
    }
  };
  return { ready, exited, exitedWithin, stderr: () => stderr, child, kill: () => child.kill('SIGKILL') };
}
