// A strict reader and applier of unified diffs (`diff -ru` output), for scripts/apply-patches.mjs.
// Why written here rather than patch(1) or a package: `npm ci` runs apply-patches in its postinstall,
// on a fresh machine that may not have patch(1) (npm test's pretest, which installs system programs,
// comes later); a package such as jsdiff would be one more dependency in every install for about a
// hundred lines, and a general applier tolerates what we want refused. Here every hunk must match at
// exactly its line numbers, context included (no fuzz, no offsets), and nothing is written unless
// every hunk of every file matches, so the patched files are byte for byte what the patch describes.
// Files are read as latin1 so that any byte survives. Supported: changed files (`--- a/path` /
// `+++ b/path`, stripped like -p1) and `\ No newline at end of file`; creating, deleting or renaming
// files and binary diffs are refused.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * @typedef {{ oldStart: number, oldLines: string[], newStart: number, newLines: string[], header: string }} Hunk
 * @typedef {{ path: string, hunks: Hunk[] }} FilePatch
 */

/** Lines with their terminators (the last may lack one), so that joining them gives the text back. */
function splitLines(text) {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

/** The path after `--- ` / `+++ ` without a timestamp, with its first component stripped (-p1). */
function stripPath(rest) {
  const name = rest.replace(/\n$/, '').split('\t')[0];
  if (name === '/dev/null') throw new Error('creating or deleting files is not supported');
  const slash = name.indexOf('/');
  if (slash < 0) throw new Error(`cannot strip a path component from ${name}`);
  return name.slice(slash + 1);
}

/** Parses a unified diff; throws on anything it does not understand inside a file's section. */
export function parseUnifiedDiff(text) {
  const lines = splitLines(text);
  /** @type {FilePatch[]} */
  const files = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.startsWith('GIT binary patch') || line.startsWith('Binary files ')) throw new Error(`binary diffs are not supported: ${line.trim()}`);
    if (!(line.startsWith('--- ') && lines[i + 1]?.startsWith('+++ '))) {
      i++; // a comment, a `diff -ru …` line: patch(1) skips these too
      continue;
    }
    const oldPath = stripPath(line.slice(4));
    const path = stripPath(lines[i + 1].slice(4));
    if (oldPath !== path) throw new Error(`renames are not supported: ${oldPath} → ${path}`);
    i += 2;
    /** @type {Hunk[]} */
    const hunks = [];
    while (i < lines.length && lines[i].startsWith('@@ ')) {
      const header = lines[i].replace(/\n$/, '');
      const m = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/.exec(header);
      if (!m) throw new Error(`${path}: malformed hunk header ${header}`);
      let oldCount = m[2] === undefined ? 1 : Number(m[2]);
      let newCount = m[4] === undefined ? 1 : Number(m[4]);
      const hunk = { oldStart: Number(m[1]), oldLines: [], newStart: Number(m[3]), newLines: [], header };
      i++;
      while (oldCount > 0 || newCount > 0) {
        const l = lines[i];
        if (l === undefined) throw new Error(`${path}: ${header} ends early`);
        // A bare newline is an empty context line whose space an editor removed; patch(1) reads it so.
        const kind = l === '\n' ? ' ' : l[0];
        const body = l === '\n' ? '\n' : l.slice(1);
        if (kind === ' ' && oldCount > 0 && newCount > 0) {
          hunk.oldLines.push(body);
          hunk.newLines.push(body);
          oldCount--;
          newCount--;
        } else if (kind === '-' && oldCount > 0) {
          hunk.oldLines.push(body);
          oldCount--;
        } else if (kind === '+' && newCount > 0) {
          hunk.newLines.push(body);
          newCount--;
        } else {
          throw new Error(`${path}: ${header}: unexpected line ${JSON.stringify(l)}`);
        }
        i++;
        // `\ No newline at end of file` belongs to the line before it.
        if (lines[i]?.startsWith('\\')) {
          const side = kind === '-' ? [hunk.oldLines] : kind === '+' ? [hunk.newLines] : [hunk.oldLines, hunk.newLines];
          for (const s of side) s[s.length - 1] = s[s.length - 1].replace(/\n$/, '');
          i++;
        }
      }
      hunks.push(hunk);
    }
    if (hunks.length === 0) throw new Error(`${path}: no hunks`);
    files.push({ path, hunks });
  }
  return files;
}

/** The same patch the other way round: what undoes it, or what finds it already applied. */
export function reversePatch(files) {
  return files.map((f) => ({
    path: f.path,
    hunks: f.hunks.map((h) => ({ oldStart: h.newStart, oldLines: h.newLines, newStart: h.oldStart, newLines: h.oldLines, header: h.header })),
  }));
}

/**
 * Applies one file's hunks to its text: every hunk must match exactly where it says, after the line
 * count changes of the hunks before it. Returns the new text, or a one-line description of the first
 * hunk that does not match.
 */
export function applyToText(text, filePatch) {
  const lines = splitLines(text);
  let shift = 0;
  for (const h of filePatch.hunks) {
    // `-N,0` inserts after line N; otherwise the hunk starts at line N.
    const at = (h.oldLines.length === 0 ? h.oldStart : h.oldStart - 1) + shift;
    for (let k = 0; k < h.oldLines.length; k++) {
      if (lines[at + k] !== h.oldLines[k]) {
        const found = lines[at + k] === undefined ? 'the end of the file' : JSON.stringify(lines[at + k]);
        return { ok: false, problem: `${filePatch.path}: ${h.header}: line ${at + k + 1} is ${found}, expected ${JSON.stringify(h.oldLines[k])}` };
      }
    }
    lines.splice(at, h.oldLines.length, ...h.newLines);
    shift += h.newLines.length - h.oldLines.length;
  }
  return { ok: true, text: lines.join('') };
}

/**
 * Applies a parsed patch to the files under `dir` in memory: `{ ok: true, files: Map<path, Buffer> }`
 * with every file's new content, or `{ ok: false, problem }` for the first hunk that does not match.
 */
export function applyToTree(dir, files) {
  const out = new Map();
  for (const f of files) {
    let text = out.get(f.path)?.toString('latin1'); // a second section for a file sees the first's result
    if (text === undefined) {
      try {
        text = readFileSync(join(dir, f.path), 'latin1');
      } catch (err) {
        return { ok: false, problem: `${f.path}: ${err.code ?? err.message}` };
      }
    }
    const r = applyToText(text, f);
    if (!r.ok) return r;
    out.set(f.path, Buffer.from(r.text, 'latin1'));
  }
  return { ok: true, files: out };
}
