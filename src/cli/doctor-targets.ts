/**
 * `airlock doctor`'s `targets` check: asks the gateway, for each target of the generated config, the
 * question the config's ProxyCommand asks after a refusal (`ssh airlock-gateway why TARGET PORT`,
 * src/gateway/why-command.ts), so that the reason a target cannot be reached — an address outside
 * its networks, an expired or removed target, a target that does not answer — is in doctor's report.
 * Non-interactive (BatchMode: no browser login is started) and it never leaves a master behind
 * (ControlMaster no; an existing master is used).
 */
import { spawnSync } from 'node:child_process';
import type { DoctorContext, Finding } from './doctor-checks.ts';
import { GATEWAY_ALIAS, hostBlocks, sshConfigPaths } from './ssh-config.ts';

/** The most targets asked about (each question may be a gateway login of its own). */
const MAX_TARGETS = 10;
const TIMEOUT_MS = 20_000;
/** `why`'s exit statuses (src/gateway/why-command.ts WHY_STATUS). */
const REACHABLE = 0;
const REFUSED = 1;
const UNREACHABLE = 3;

const finding = (status: Finding['status'], what: string, why: string | null = null, fix: string | null = null): Finding => ({ check: 'targets', status, what, why, fix });

/** The gateway's answer for each target of the generated config. */
export async function checkTargets(ctx: DoctorContext, read: (path: string) => string | null): Promise<Finding[]> {
  if (!ctx.session) return [];
  const config = sshConfigPaths(ctx.home).config;
  const text = read(config);
  if (text === null) return [];
  const targets = [...hostBlocks(text)].filter(([alias]) => alias !== GATEWAY_ALIAS).slice(0, MAX_TARGETS);
  const out: Finding[] = [];
  let reachable = 0;
  for (const [name, options] of targets) {
    const port = options.get('port') ?? '22';
    const r = spawnSync('ssh', ['-F', config, '-o', 'BatchMode=yes', '-o', 'ControlMaster=no', GATEWAY_ALIAS, 'why', name, port], {
      env: ctx.env, encoding: 'utf8', timeout: TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const said = (r.stderr ?? '').split('\n').map((l) => l.trim()).find((l) => l.startsWith('Airlock gateway: '))?.slice('Airlock gateway: '.length);
    if (r.status === REACHABLE) reachable++;
    else if (r.status === REFUSED && said) out.push(finding('fail', `${name}: ${said}`, `ssh ${name} is refused at the gateway.`, 'airlock hosts lists the targets you may reach now; ask your project if one is missing.'));
    else if (r.status === UNREACHABLE && said) out.push(finding('warn', `${name}: ${said}`, `ssh ${name} fails after the gateway let you through: the target is not answering.`, `Is ${name} running? Try again in a minute.`));
    else {
      const last = (r.stderr ?? '').trim().split('\n').filter(Boolean).at(-1) ?? (r.error ? r.error.message : `ssh exited with ${String(r.status)}`);
      return [...out, finding('skip', `The gateway could not be asked about your targets (${last.slice(0, 200)}).`, 'The certificate and gateway checks above say why; a login that needs the browser is not started here.')];
    }
  }
  if (targets.length > 0 && out.length === 0) out.push(finding('ok', `The gateway lets you reach ${reachable === 1 ? 'your target' : `all ${reachable} targets`} (${targets.map(([n]) => n).join(', ')}).`));
  return out;
}
