/**
 * The one line `airlock config` adds to the user's `~/.ssh/config`: `Include <owned file>`, first.
 * ssh uses the first value it obtains for each option (ssh_config(5)), and an `Include` written after a
 * `Host` or `Match` line only applies inside that block; so the line belongs at the very top, where
 * Airlock's host blocks are read before anything of the user's and touch no other host. Pure text in,
 * text out.
 */
import { configPath } from './ssh-config.ts';

/** The options the generated config sets: a top-level one above the Include overrides Airlock's value. */
export const OPTIONS_WE_SET = [
  'hostname', 'port', 'user', 'proxyjump', 'identityfile', 'certificatefile', 'identitiesonly', 'controlmaster',
  'controlpath', 'controlpersist', 'forwardagent', 'userknownhostsfile', 'stricthostkeychecking', 'proxycommand',
] as const;

const INCLUDE_COMMENT = '# Added by `airlock config`: Airlock\'s hosts. Keep this line first (ssh uses the first value it reads).';

/** The Include line for the owned file. */
export function includeLine(ownedConfig: string): string {
  return `Include ${configPath(ownedConfig)}`;
}

interface Directive {
  /** 1-based line number. */
  line: number;
  keyword: string;
  args: string[];
  text: string;
}

/** Splits a config line into keyword and arguments (`Key value`, `Key=value`, double quotes); null for blanks and comments. */
function directive(text: string, line: number): Directive | null {
  const t = text.trim();
  if (t === '' || t.startsWith('#')) return null;
  const m = /^([A-Za-z]+)(?:\s*=\s*|\s+)(.*)$/.exec(t) ?? /^([A-Za-z]+)$/.exec(t);
  if (!m) return { line, keyword: '', args: [], text: t };
  const args: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let a = re.exec(m[2] ?? ''); a !== null; a = re.exec(m[2] ?? '')) args.push(a[1] ?? a[2]!);
  return { line, keyword: m[1]!.toLowerCase(), args, text: t };
}

/** Whether an Include directive names the owned file (absolute, or `~/…` relative to `home`). */
function includesOwned(d: Directive, ownedConfig: string, home: string): boolean {
  if (d.keyword !== 'include') return false;
  const tilde = ownedConfig.startsWith(home + '/') ? '~' + ownedConfig.slice(home.length) : null;
  return d.args.some((a) => a === ownedConfig || (tilde !== null && a === tilde));
}

export interface IncludeAnalysis {
  /** Whether some Include line names the owned file. */
  present: boolean;
  /** Line number of the first such Include, or null. */
  line: number | null;
  /** How many lines include it. */
  count: number;
  /** Directives above the first Include: Host/Match make it conditional; options we set override ours. */
  shadowedBy: { line: number; text: string; kind: 'host' | 'match' | 'option' }[];
}

/** Looks at a user config (null = the file does not exist). */
export function analyseInclude(text: string | null, ownedConfig: string, home: string): IncludeAnalysis {
  const result: IncludeAnalysis = { present: false, line: null, count: 0, shadowedBy: [] };
  if (text === null) return result;
  const lines = text.split(/\r?\n/);
  let inBlock = false;
  lines.forEach((raw, i) => {
    const d = directive(raw, i + 1);
    if (d === null) return;
    if (includesOwned(d, ownedConfig, home)) {
      result.count++;
      if (!result.present) {
        result.present = true;
        result.line = d.line;
      }
      return;
    }
    if (result.present) return;
    if (d.keyword === 'host' || d.keyword === 'match') {
      inBlock = true;
      result.shadowedBy.push({ line: d.line, text: d.text, kind: d.keyword });
    } else if (!inBlock && (OPTIONS_WE_SET as readonly string[]).includes(d.keyword)) {
      // Options inside a block are the block's business; the block line itself is what is reported.
      result.shadowedBy.push({ line: d.line, text: d.text, kind: 'option' });
    }
  });
  return result;
}

/**
 * The user config with exactly one Include of the owned file, above every directive. Returns the text
 * unchanged (`changed: false`) when that already holds, so running `airlock config` twice changes nothing.
 */
export function ensureIncludeFirst(text: string | null, ownedConfig: string, home: string): { text: string; changed: boolean } {
  const line = includeLine(ownedConfig);
  if (text === null || text.trim() === '') return { text: `${INCLUDE_COMMENT}\n${line}\n`, changed: true };
  const a = analyseInclude(text, ownedConfig, home);
  const lines = text.split(/\r?\n/);
  const firstDirective = lines.findIndex((l, i) => directive(l, i + 1) !== null);
  if (a.present && a.count === 1 && a.line === firstDirective + 1) return { text, changed: false };
  // Drop every existing copy (and the comment we wrote above it), then put one on top.
  const kept: string[] = [];
  lines.forEach((l, i) => {
    const d = directive(l, i + 1);
    if (d !== null && includesOwned(d, ownedConfig, home)) {
      if (kept.length > 0 && kept[kept.length - 1] === INCLUDE_COMMENT) kept.pop();
      return;
    }
    kept.push(l);
  });
  const rest = kept.join('\n').replace(/^\n+/, '');
  return { text: `${INCLUDE_COMMENT}\n${line}\n\n${rest}${rest.endsWith('\n') || rest === '' ? '' : '\n'}`, changed: true };
}
