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

/**
 * Formats milliseconds for people, in at most two units rounded to the smaller one (`1d2h`, `23h5m`,
 * `5m30s`, `42s`): the one formatter for every lifetime the CLI, the lobby and the web app print, so
 * that a certificate's remaining 86399.4 s reads `1d` everywhere, never `23h59m59s` in one place and
 * `1d` in another.
 */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const units = [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const;
  let seconds = Math.round(ms / 1000);
  let big = 0;
  // At most two passes: rounding to the smaller unit can carry into a larger one (23h59m59s → 1d).
  for (let pass = 0; pass < 2; pass++) {
    big = units.findIndex(([, size]) => seconds >= size);
    const small = units[big + 1];
    if (small === undefined) break;
    const rounded = Math.round(seconds / small[1]) * small[1];
    if (rounded === seconds) break;
    seconds = rounded;
  }
  const [bigUnit, bigSize] = units[big]!;
  const hi = Math.floor(seconds / bigSize);
  const small = units[big + 1];
  const lo = small === undefined ? 0 : Math.round((seconds - hi * bigSize) / small[1]);
  return `${hi}${bigUnit}${lo > 0 && small !== undefined ? `${lo}${small[0]}` : ''}`;
}
