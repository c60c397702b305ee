/**
 * Test support for src/ssh: a temporary directory and the real ssh-keygen as the oracle, plus
 * fast-check arbitraries that mutate valid encodings. Used only by the *.test.ts files here.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { AirlockError } from '../errors.ts';

export const SSH_KEYGEN = '/usr/bin/ssh-keygen';

/** The result of one ssh-keygen run. */
export interface KeygenResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** A scratch directory for ssh-keygen files; call `remove()` in an `after` hook. */
export class TempDir {
  readonly dir: string;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'airlock-ssh-'));
  }

  /** Absolute path of a file in the directory. */
  path(name: string): string {
    return join(this.dir, name);
  }

  /** Writes a file (mode 0600, as ssh-keygen insists for private keys). */
  write(name: string, content: string | Buffer): string {
    const p = this.path(name);
    writeFileSync(p, content, { mode: 0o600 });
    return p;
  }

  /** Reads a file as text. */
  read(name: string): string {
    return readFileSync(this.path(name), 'utf8');
  }

  /** Reads a file as bytes. */
  readBytes(name: string): Buffer {
    return readFileSync(this.path(name));
  }

  /** Runs ssh-keygen in the directory (TZ=UTC, so printed times are predictable). */
  keygen(args: string[]): KeygenResult {
    const r = spawnSync(SSH_KEYGEN, args, { cwd: this.dir, encoding: 'utf8', env: { PATH: '/usr/bin:/bin', TZ: 'UTC' }, timeout: 30_000 });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Runs ssh-keygen with bytes on its standard input. */
  keygenWithInput(args: string[], input: Buffer | string): KeygenResult {
    const r = spawnSync(SSH_KEYGEN, args, { cwd: this.dir, input, encoding: 'utf8', env: { PATH: '/usr/bin:/bin', TZ: 'UTC' }, timeout: 30_000 });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Runs ssh-keygen and fails unless it exits 0. */
  keygenOk(args: string[]): string {
    const r = this.keygen(args);
    if (r.status !== 0) throw new Error(`ssh-keygen ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    return r.stdout;
  }

  /** Runs ssh-keygen asynchronously (to generate several keys at once). */
  keygenAsync(args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(SSH_KEYGEN, args, { cwd: this.dir, env: { PATH: '/usr/bin:/bin', TZ: 'UTC' }, timeout: 60_000 }, (err, stdout, stderr) => {
        if (err !== null) reject(new Error(`ssh-keygen ${args.join(' ')}: ${err.message} ${stderr}`));
        else resolve(stdout);
      });
    });
  }

  /** Deletes the directory. */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs fn; passes if it returns or throws an AirlockError, rethrows anything else. */
export function onlyAirlockErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof AirlockError)) throw err;
  }
}

/** Asserts that fn throws an AirlockError with the code, whose message matches. */
export function throwsAirlock(fn: () => unknown, code: string, message?: RegExp): AirlockError {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof AirlockError)) throw new Error(`expected AirlockError(${code}), got ${String(err)}`);
    if (err.code !== code) throw new Error(`expected code ${code}, got ${err.code}: ${err.message}`);
    if (message !== undefined && !message.test(err.message)) throw new Error(`message ${JSON.stringify(err.message)} does not match ${message}`);
    return err;
  }
  throw new Error(`expected AirlockError(${code}), but nothing was thrown`);
}

/** Random edits of a valid encoding: byte flips, truncation, insertion, deletion, length-field smashing. */
export function mutated(valid: readonly Buffer[]): fc.Arbitrary<Buffer> {
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(), value: fc.constant(0) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), value: fc.constant(0) }),
    fc.record({ kind: fc.constant('length' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0x7f, 0xff) }),
  );
  return fc
    .tuple(fc.constantFrom(...valid), fc.array(edit, { minLength: 1, maxLength: 4 }))
    .map(([base, edits]) => {
      let b = Buffer.from(base);
      for (const e of edits) {
        if (b.length === 0) break;
        const at = e.at % b.length;
        if (e.kind === 'flip') b[at] = e.value;
        else if (e.kind === 'truncate') b = b.subarray(0, at);
        else if (e.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([e.value]), b.subarray(at)]);
        else if (e.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
        else b.fill(e.value, at, Math.min(b.length, at + 4));
      }
      return b;
    });
}

/** Random bytes, or a valid encoding mutated: what the parser property tests feed. */
export function hostileBytes(valid: readonly Buffer[]): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)),
    mutated(valid),
  );
}
