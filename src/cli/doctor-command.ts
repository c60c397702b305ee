/**
 * `airlock doctor`: runs the checks of doctor-checks.ts and prints each finding with why it matters
 * and the exact fix. Exits 1 when something is wrong (a `fail`); warnings are shown but do not fail.
 */
import { homedir } from 'node:os';
import type { Command } from 'commander';
import { AirlockError } from '../errors.ts';
import { loadSession } from './client-state.ts';
import { runChecks, type Finding } from './doctor-checks.ts';
import { out, outJson } from './output.ts';

const LABEL: Record<Finding['status'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

/** The text report: problems first, then warnings, then what is fine. */
export function renderFindings(findings: readonly Finding[]): string {
  const order: Finding['status'][] = ['fail', 'warn', 'ok', 'skip'];
  const sorted = [...findings].sort((a, b) => order.indexOf(a.status) - order.indexOf(b.status));
  const lines: string[] = [];
  for (const f of sorted) {
    lines.push(`${LABEL[f.status]}  ${f.check}: ${f.what}`);
    if (f.status === 'fail' || f.status === 'warn') {
      if (f.why) lines.push(`      why: ${f.why}`);
      if (f.fix) lines.push(`      fix: ${f.fix}`);
    }
  }
  const fails = findings.filter((f) => f.status === 'fail').length;
  const warns = findings.filter((f) => f.status === 'warn').length;
  lines.push('', fails === 0 && warns === 0 ? 'Everything checked is fine.' : `${fails} problem(s), ${warns} warning(s).`);
  return lines.join('\n');
}

function parsePort(v: string, prev: number[] = []): number[] {
  if (!/^\d{1,5}$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw new AirlockError('bad_request', `--port must be a number from 1 to 65535, not ${JSON.stringify(v)}.`);
  return [...prev, Number(v)];
}

/** Registers `doctor`. */
export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('Check everything ssh through Airlock needs, and say how to fix what is wrong')
    .option('--port <n>', 'also check that this local port is free (repeatable)', parsePort)
    .option('--key-name <name>', 'key name used at login', 'airlock')
    .option('--json', 'print the findings as JSON')
    .addHelpText('after', `
Checks: the ssh client's version; ssh-agent (running, not too many keys); your sign-in and
certificate (missing, expired, not yet valid, revoked, from another CA); the clock against the server's;
the gateway (reachable, host key as published and as in your known_hosts); the Include line in
~/.ssh/config (missing or shadowed) and what ssh really uses (ssh -G); local ports.
Exits with 1 when a check fails; warnings alone exit with 0.

Examples:
  airlock doctor
  airlock doctor --port 8888
  airlock doctor --json | jq '.findings[] | select(.status == "fail")'`)
    .action(async (opts: { port?: number[]; keyName: string; json?: boolean }) => {
      const findings = await runChecks({
        now: () => Date.now(),
        home: homedir(),
        env: process.env,
        session: loadSession(),
        keyName: opts.keyName,
        ports: opts.port ?? [],
        memo: new Map(),
      });
      const ok = !findings.some((f) => f.status === 'fail');
      if (opts.json) outJson({ ok, problems: findings.filter((f) => f.status === 'fail').length, warnings: findings.filter((f) => f.status === 'warn').length, findings });
      else out(renderFindings(findings));
      if (!ok) process.exitCode = 1;
    });
}
