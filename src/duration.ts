/**
 * Durations as people write them in flags and environment variables: `90s`, `30m`, `24h`, `7d`,
 * combinations like `1h30m`, or a bare number of seconds.
 */
import { AirlockError } from './errors.ts';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses a duration into milliseconds; throws AirlockError('bad_request') with the accepted forms. */
export function parseDuration(text: string, what = 'duration'): number {
  const s = text.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const re = /(\d+)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    total += Number(m[1]) * (UNIT_MS[m[2]!] ?? 0);
    matched = re.lastIndex;
  }
  if (s.length === 0 || matched !== s.length || !Number.isSafeInteger(total)) {
    throw new AirlockError('bad_request', `Invalid ${what} "${text}": use forms like 90s, 30m, 24h, 7d or 1h30m.`);
  }
  return total;
}

/** Formats milliseconds compactly (`1d2h`, `24h`, `5m`, `42s`) for messages and `ssh-add -t`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  let rest = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join('');
}
