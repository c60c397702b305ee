/** Parsing of the jobs settings: `AIRLOCK_JOB_PORTS` and `AIRLOCK_JOB_PORT_QUARANTINE`. */
import { parseDuration } from '../duration.ts';
import { AirlockError } from '../errors.ts';
import type { PortPool } from './job.ts';

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
