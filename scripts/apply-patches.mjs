#!/usr/bin/env node
// Applies patches/<package>+<version>.patch to node_modules/<package> (run by the postinstall script,
// through rebuild-native.mjs; safe to run again). Why patches and not a fork: the changes stay small,
// readable and ours, and an upgrade of the package cannot silently drop them — this script refuses to
// go on when the installed version is not the one a patch was written for, or when a patch no longer
// applies exactly, and src/gateway/ssh2-extensions.test.ts checks the installed files match. Patches
// are applied by scripts/unified-diff.mjs (no fuzz, no offsets, no system program needed). See
// docs/ssh2-extensions.md for what the ssh2 patch changes and how to carry it to a new ssh2.
import { chmodSync, existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyToTree, parseUnifiedDiff, reversePatch } from './unified-diff.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const patchDir = join(root, 'patches');

/** `ssh2+1.17.0.patch` → { name: 'ssh2', version: '1.17.0' }; scoped: `@scope+pkg+1.0.0.patch`. */
export function parsePatchName(file) {
  const m = /^(.+)\+(\d+\.\d+\.\d+[^+]*)\.patch$/.exec(file);
  if (!m) return null;
  return { name: m[1].replace(/^(@[^+]+)\+/, '$1/'), version: m[2] };
}

/** Replaces each file through a temporary sibling and a rename (keeping its mode), as patch(1) does. */
function writeFiles(dir, files) {
  for (const [path, content] of files) {
    const target = join(dir, path);
    const temp = `${target}.airlock-patch-${process.pid}`;
    const mode = statSync(target).mode & 0o7777;
    writeFileSync(temp, content);
    chmodSync(temp, mode); // not through writeFileSync's mode, which the umask narrows
    renameSync(temp, target);
  }
}

/** Per file of a patch that applies neither way: published, patched, or the first hunk that differs. */
function fileStates(pkgDir, patch) {
  return patch.map((f) => {
    const forward = applyToTree(pkgDir, [f]);
    if (forward.ok) return `  ${f.path}: as published`;
    if (applyToTree(pkgDir, reversePatch([f])).ok) return `  ${f.path}: patched`;
    return `  ${f.path}: neither; against the published text, ${forward.problem.slice(f.path.length + 2)}`;
  }).join('\n');
}

/**
 * Applies every patch; returns the problems (empty when all are applied). `dryRun` only reports what
 * would happen.
 */
export function applyPatches({ dryRun = false, log = console.log } = {}) {
  const problems = [];
  if (!existsSync(patchDir)) return problems;
  for (const file of readdirSync(patchDir).filter((f) => f.endsWith('.patch')).sort()) {
    const target = parsePatchName(file);
    if (!target) {
      problems.push(`${file}: name it <package>+<version>.patch`);
      continue;
    }
    const pkgDir = join(root, 'node_modules', target.name);
    const pkgJson = join(pkgDir, 'package.json');
    if (!existsSync(pkgJson)) {
      problems.push(`${file}: ${target.name} is not installed`);
      continue;
    }
    const installed = JSON.parse(readFileSync(pkgJson, 'utf8')).version;
    if (installed !== target.version) {
      problems.push(
        `${file} is for ${target.name} ${target.version}, but ${installed} is installed. ` +
          `Carry the changes to ${installed} (docs/ssh2-extensions.md, "Upgrading ssh2") or pin ${target.version}.`,
      );
      continue;
    }
    let patch;
    try {
      patch = parseUnifiedDiff(readFileSync(join(patchDir, file), 'latin1'));
    } catch (err) {
      problems.push(`${file} is not a unified diff this script applies: ${err.message}`);
      continue;
    }
    if (applyToTree(pkgDir, reversePatch(patch)).ok) {
      log(`airlock: ${file} already applied`);
      continue;
    }
    const applied = applyToTree(pkgDir, patch);
    if (!applied.ok) {
      problems.push(`${file} does not apply: node_modules/${target.name} is neither ${target.name} ${target.version} as published nor with the patch applied (edited by hand?); reinstall it (npm ci) or update the patch:\n${fileStates(pkgDir, patch)}`);
      continue;
    }
    if (dryRun) {
      log(`airlock: ${file} would be applied`);
      continue;
    }
    try {
      writeFiles(pkgDir, applied.files);
      log(`airlock: applied ${file}`);
    } catch (err) {
      problems.push(`${file} failed to apply: ${err.message}`);
    }
  }
  return problems;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const problems = applyPatches({ dryRun: process.argv.includes('--dry-run') });
  for (const p of problems) console.error(`airlock: ${p}`);
  // Loud on purpose: the gateway refuses to start without its ssh2 extensions anyway.
  process.exit(problems.length > 0 ? 1 : 0);
}
