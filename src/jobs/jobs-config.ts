/** Parsing of the jobs settings: `AIRLOCK_JOB_PORTS`, `AIRLOCK_JOB_PORT_QUARANTINE` and `AIRLOCK_JOB_FORWARDING`. */
import { parseDuration } from '../duration.ts';
import { AirlockError } from '../errors.ts';
import { JOB_FORWARDING, type JobForwarding, type PortPool } from './job.ts';

/** The most ports one pool may hold: every replica listens on each live job's port. */
const MAX_POOL_SIZE = 20_000;

/** Parses `FIRST-LAST` (e.g. `40000-40999`) and the quarantine; null when jobs are not configured. */
export function parseJobsConfig(ports: string | undefined, quarantine: string | undefined): PortPool | null {
  if (ports === undefined) return null;
  const m = /^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$/.exec(ports);
  const first = m ? Number(m[1]) : NaN;
  const last = m ? Number(m[2]) : NaN;
  if (!m || first < 1024 || last > 65535 || first > last || last - first + 1 > MAX_POOL_SIZE) {
    throw new AirlockError('config', `AIRLOCK_JOB_PORTS "${ports.slice(0, 40)}" must be a range FIRST-LAST of unprivileged ports (1024-65535), at most ${MAX_POOL_SIZE} ports, e.g. 40000-40999.`);
  }
  const quarantineMs = parseDuration(quarantine ?? '1h', 'job port quarantine (AIRLOCK_JOB_PORT_QUARANTINE)');
  if (quarantineMs > 30 * 86_400_000) throw new AirlockError('config', 'AIRLOCK_JOB_PORT_QUARANTINE must be at most 30 days.');
  return { first, last, quarantineMs };
}

/**
 * Parses `AIRLOCK_JOB_FORWARDING`: the session features jobs may be registered with, comma-separated
 * (`x11`, `agent`); unset or `none` = neither, so no job can turn them on.
 */
export function parseJobForwarding(value: string | undefined): JobForwarding[] {
  const items = (value ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '' && s !== 'none');
  const out: JobForwarding[] = [];
  for (const item of items) {
    if (!(JOB_FORWARDING as readonly string[]).includes(item)) {
      throw new AirlockError('config', `AIRLOCK_JOB_FORWARDING "${item.slice(0, 40)}" is not one of ${JOB_FORWARDING.join(', ')} (comma-separated; unset = none).`);
    }
    if (!out.includes(item as JobForwarding)) out.push(item as JobForwarding);
  }
  return out;
}
