/**
 * `airlock serve` as a child process (harness/airlock.ts) with one user enrolled the operator's way,
 * `airlock admin user add NAME --password-stdin --json`, and an empty HOME (0700) for that user's
 * `airlock` commands: the world of the CLI tests that need no target.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAirlock, type RunningAirlock } from './airlock.ts';

/** The enrolled user's password unless a test chooses another. */
export const USER_PASSWORD = 'correct horse battery staple';

export interface AirlockWithUser {
  /** The directory holding the server's data directory (`data`) and the user's HOME (`home`). */
  dir: string;
  server: RunningAirlock;
  user: string;
  password: string;
  totpSecret: string;
  recoveryCodes: string[];
  home: string;
  /** HOME and XDG_CONFIG_HOME for the user's `airlock` commands. */
  env(): NodeJS.ProcessEnv;
  /** Stops the server, and removes `dir` when it was made here (not when the caller passed it). */
  stop(): Promise<void>;
}

/**
 * Starts the server in `dir` (a new temporary directory named `prefix…` when not given) and enrols
 * `user` (default alice) with `password` (default USER_PASSWORD); the caller stops it.
 */
export async function startAirlockWithUser(opts: { dir?: string; prefix?: string; user?: string; password?: string } = {}): Promise<AirlockWithUser> {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), opts.prefix ?? 'airlock-it-user-'));
  const user = opts.user ?? 'alice';
  const password = opts.password ?? USER_PASSWORD;
  const home = join(dir, 'home');
  let server: RunningAirlock | undefined;
  const stop = async (): Promise<void> => {
    await server?.stop();
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };
  try {
    mkdirSync(home, { mode: 0o700 });
    server = await startAirlock(join(dir, 'data'));
    const add = await server.admin(['user', 'add', user, '--password-stdin', '--json'], { input: `${password}\n` });
    if (add.code !== 0) throw new Error(`airlock admin user add ${user} exited with ${add.code}: ${add.stderr}`);
    const enrolment = JSON.parse(add.stdout) as { totp_uri: string; recovery_codes: string[] };
    const totpSecret = new URL(enrolment.totp_uri).searchParams.get('secret');
    if (!totpSecret) throw new Error(`no TOTP secret in ${enrolment.totp_uri}`);
    return {
      dir, server, user, password, totpSecret, recoveryCodes: enrolment.recovery_codes, home,
      env: () => ({ HOME: home, XDG_CONFIG_HOME: join(home, '.config') }),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
