/**
 * scripts/test-prereqs.sh, run before `npm test` and by .ci/run: with every program present it is
 * silent; with one hidden (a search path of links to the real programs, minus that one) it names the
 * program and its Debian package in one line and stops, unless it may install (root with apt-get),
 * in which case it runs apt-get for exactly the missing packages. Nothing is uninstalled: apt-get is a
 * recorder in the temporary directory (a real one would change the machine) that "installs" by linking
 * the real program back.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../harness/processes.ts';

const SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'test-prereqs.sh');
const SEARCH = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'].filter(Boolean);
const isRoot = process.getuid?.() === 0;

/** The script's own list: program (first of alternatives) and its package. */
const PREREQS = [...readFileSync(SCRIPT, 'utf8').matchAll(/^\s*'([^':]+):([a-z0-9.+-]+)'/gm)].map((m) => ({
  programs: m[1]!.split('|'),
  pkg: m[2]!,
}));

function realPath(names: string[]): { name: string; path: string } | undefined {
  for (const name of names) {
    for (const dir of SEARCH) {
      if (existsSync(join(dir, name))) return { name, path: join(dir, name) };
    }
  }
  return undefined;
}

let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-prereqs-'));
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A directory holding links to every listed program except `hidden`, and optionally a recording apt-get. */
function makeWorld(name: string, hidden: string[], aptGet: boolean): { bin: string; log: string } {
  const bin = join(dir, name);
  const log = join(dir, `${name}.apt-log`);
  mkdirSync(bin);
  for (const p of PREREQS) {
    const real = realPath(p.programs);
    assert.ok(real, `${p.programs.join(' or ')} is installed on this machine (pretest checked it)`);
    if (hidden.includes(p.programs[0]!) || existsSync(join(bin, real.name))) continue;
    symlinkSync(real.path, join(bin, real.name));
  }
  if (aptGet) {
    // Records its arguments; `install` links the hidden programs back, as the real packages would.
    const links = hidden.map((h) => `ln -sf ${realPath(PREREQS.find((p) => p.programs[0] === h)!.programs)!.path} ${bin}/`).join('\n');
    writeFileSync(join(bin, 'apt-get'), `#!/bin/sh\necho "$*" >> ${log}\nif [ "$1" = install ]; then\n${links}\nfi\n`, { mode: 0o755 });
  }
  return { bin, log };
}

function prereqs(bin: string, args: string[] = []) {
  return run('bash', [SCRIPT, ...args], { env: { ...process.env, AIRLOCK_PREREQS_PATH: bin } });
}

test('every program present: silent success', async () => {
  const w = makeWorld('all', [], false);
  const r = await prereqs(w.bin);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
});

test('sshd missing and no way to install: one line naming it and its package, exit 1', async () => {
  const w = makeWorld('no-sshd', ['sshd'], false);
  const r = await prereqs(w.bin);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'test-prereqs: missing sshd; install with: sudo apt-get install openssh-server (as root, npm test installs them itself)\n');
});

test('several programs of one package missing: the package is named once', async () => {
  const w = makeWorld('no-putty', ['puttygen', 'plink', 'haproxy'], false);
  const r = await prereqs(w.bin);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.split('\n').length, 2, 'one line');
  assert.match(r.stderr, /missing puttygen plink haproxy; install with: sudo apt-get install putty-tools haproxy \(/);
});

test('--check never installs, even with apt-get at hand', async () => {
  const w = makeWorld('check', ['chromium'], true);
  const r = await prereqs(w.bin, ['--check']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^test-prereqs: missing chromium; install with: sudo apt-get install chromium /);
  assert.equal(existsSync(w.log), false, 'apt-get not run');
});

test('root with apt-get: installs exactly the missing packages, then succeeds', async () => {
  const w = makeWorld('install', ['sshd', 'curl'], true);
  const r = await prereqs(w.bin);
  if (!isRoot) {
    // Not root: it must not try, and says what to install.
    assert.equal(r.code, 1);
    assert.equal(existsSync(w.log), false, 'apt-get not run');
    return;
  }
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, 'test-prereqs: installing openssh-server curl (for sshd curl)\n');
  assert.equal(readFileSync(w.log, 'utf8'), 'update -qq\ninstall -y -qq --no-install-recommends openssh-server curl\n');
});

test('root with apt-get that does not deliver: the one line after trying', async () => {
  const w = makeWorld('broken-apt', ['curl'], true);
  // This apt-get installs nothing.
  writeFileSync(join(w.bin, 'apt-get'), `#!/bin/sh\necho "$*" >> ${w.log}\n`, { mode: 0o755 });
  const r = await prereqs(w.bin);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /test-prereqs: missing curl; install with: sudo apt-get install curl /);
});
