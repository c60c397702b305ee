#!/usr/bin/env node
// Applies patches/<package>+<version>.patch to node_modules/<package> (run by the postinstall script,
// through rebuild-native.mjs; safe to run again). Why patches and not a fork: the changes stay small,
// readable and ours, and an upgrade of the package cannot silently drop them — this script refuses to
// go on when the installed version is not the one a patch was written for, or when a patch no longer
// applies, and src/gateway/ssh2-extensions.test.ts checks the installed files match. See
// docs/ssh2-extensions.md for what the ssh2 patch changes and how to carry it to a new ssh2.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const patchDir = join(root, 'patches');

/** `ssh2+1.17.0.patch` → { name: 'ssh2', version: '1.17.0' }; scoped: `@scope+pkg+1.0.0.patch`. */
export function parsePatchName(file) {
  const m = /^(.+)\+(\d+\.\d+\.\d+[^+]*)\.patch$/.exec(file);
  if (!m) return null;
  return { name: m[1].replace(/^(@[^+]+)\+/, '$1/'), version: m[2] };
}

function patchCmd(args, file, cwd) {
  return spawnSync('patch', ['-p1', '-f', '-s', '--no-backup-if-mismatch', '-d', cwd, ...args], {
    input: readFileSync(file),
    encoding: 'utf8',
  });
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
    const full = join(patchDir, file);
    const probe = patchCmd(['--dry-run', '-R'], full, pkgDir);
    if (probe.error) {
      problems.push(`cannot run patch(1) (${probe.error.message}); install it: apt-get install patch`);
      break;
    }
    if (probe.status === 0) {
      log(`airlock: ${file} already applied`);
      continue;
    }
    const check = patchCmd(['--dry-run', '-N'], full, pkgDir);
    if (check.status !== 0) {
      problems.push(`${file} does not apply: node_modules/${target.name} is neither ${target.name} ${target.version} as published nor with the patch applied (edited by hand?); reinstall it (npm ci) or update the patch:\n${check.stdout}${check.stderr}`);
      continue;
    }
    if (dryRun) {
      log(`airlock: ${file} would be applied`);
      continue;
    }
    const res = patchCmd(['-N'], full, pkgDir);
    if (res.status !== 0) problems.push(`${file} failed to apply:\n${res.stdout}${res.stderr}`);
    else log(`airlock: applied ${file}`);
  }
  return problems;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const problems = applyPatches({ dryRun: process.argv.includes('--dry-run') });
  for (const p of problems) console.error(`airlock: ${p}`);
  // Loud on purpose: the gateway refuses to start without its ssh2 extensions anyway.
  process.exit(problems.length > 0 ? 1 : 0);
}
