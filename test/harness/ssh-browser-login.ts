/**
 * Driving the stock ssh client through a browser login without a TTY: the link and code are read from
 * ssh's stderr (the keyboard-interactive instructions), and the prompt-mode "press Enter" is answered by
 * an SSH_ASKPASS program (SSH_ASKPASS_REQUIRE=force) that waits until the test writes the answer file.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunResult } from './processes.ts';

export const LINK = /(http:\/\/\S+\/login\/b\/[A-Za-z0-9_-]{43})/;
export const CODE = /code ([A-Z2-9]{4}-[A-Z2-9]{4})/;

/** An askpass program and the file whose content it answers with once the file exists (bounded wait). */
export interface Askpass {
  env: NodeJS.ProcessEnv;
  /** Makes the waiting askpass answer `text` (empty = just Enter). */
  answer(text: string): void;
  /** Every prompt the askpass was called with so far (ssh passes the prompt text as its argument), one per line. */
  prompts(): string;
}

/** Creates an askpass program in a fresh directory under `parent`. */
export function makeAskpass(parent: string): Askpass {
  const dir = mkdtempSync(join(parent, 'askpass-'));
  const script = join(dir, 'askpass.sh');
  const answerFile = join(dir, 'answer');
  const promptFile = join(dir, 'prompts');
  // At most 60 s of waiting (600 × 0.1 s), then an empty answer: the test never hangs on it.
  writeFileSync(script, `#!/bin/sh\nprintf '%s\\n' "$1" >> '${promptFile}'\ni=0\nwhile [ ! -f '${answerFile}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\ncat '${answerFile}' 2>/dev/null\nrm -f '${answerFile}'\n`);
  chmodSync(script, 0o755);
  return {
    env: { SSH_ASKPASS: script, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
    answer: (text) => writeFileSync(answerFile, `${text}\n`),
    prompts: () => (existsSync(promptFile) ? readFileSync(promptFile, 'utf8') : ''),
  };
}

/** Runs `ssh -F CONFIG ARGS`, calling `onLink` once with the link and code from its stderr. */
export function sshWithLink(config: string, args: string[], onLink: (url: string, code: string) => Promise<void>, opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<RunResult & { linkSeen: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', ['-F', config, ...args], { env: { ...process.env, SSH_AUTH_SOCK: '', ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let linkSeen = false;
    let failure: Error | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 90_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const url = LINK.exec(stderr)?.[1];
      const code = CODE.exec(stderr)?.[1];
      if (url && code && !linkSeen) {
        linkSeen = true;
        onLink(url, code).catch((err: unknown) => {
          failure = err instanceof Error ? err : new Error(String(err));
          child.kill('SIGTERM');
        });
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (failure) reject(failure);
      else resolve({ code, stdout, stderr, linkSeen });
    });
    child.stdin.end(opts.input ?? '');
  });
}
