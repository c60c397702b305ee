/**
 * scripts/apply-patches.mjs (npm ci's postinstall) with its own unified-diff applier, run as the
 * install runs it, on copies of this checkout's scripts/ and patches/ next to a node_modules/ssh2 that
 * is ssh2 1.17.0 as published (`npm pack ssh2@1.17.0`): it patches that copy to exactly what patch(1)
 * makes of it, byte for byte; says so when the patch is already applied; refuses another version with
 * its message; and fails loudly, writing nothing, when a hunk does not match exactly where it says
 * (an edited line, or a line added above it, which patch(1) would accept with an offset). It runs with
 * a PATH where no program can be found, as on a fresh machine without patch(1).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative } from 'node:path';
import { ROOT } from '../harness/airlock.ts';
import { run, type RunResult } from '../harness/processes.ts';

const PATCH = 'ssh2+1.17.0.patch';
const PATCH_FILE = join(ROOT, 'patches', PATCH);
const patchProgram = ['/usr/bin/patch', '/bin/patch'].find((p) => existsSync(p));

let dir: string;
/** ssh2 1.17.0 exactly as the registry serves it. */
let pristine: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-apply-patches-'));
  // npm runs on this Node (24), as in a checkout; the cache makes it quick when ssh2 was installed before.
  const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`, npm_config_update_notifier: 'false' };
  const packed = await run('npm', ['pack', 'ssh2@1.17.0', '--silent', '--prefer-offline', '--pack-destination', dir], { env, timeoutMs: 120_000 });
  assert.equal(packed.code, 0, packed.stderr);
  pristine = join(dir, 'pristine');
  mkdirSync(pristine);
  // The registry's tarball has a top folder of its own (not `package/`).
  const untar = await run('tar', ['-xzf', join(dir, packed.stdout.trim().split('\n').pop()!), '-C', pristine, '--strip-components=1']);
  assert.equal(untar.code, 0, untar.stderr);
  assert.equal((JSON.parse(readFileSync(join(pristine, 'package.json'), 'utf8')) as { version: string }).version, '1.17.0');
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A root as the install sees it: copies of scripts/ and patches/, and node_modules/ssh2 from `ssh2`. */
function installRoot(name: string, ssh2: string): { root: string; ssh2: string } {
  const root = join(dir, name);
  cpSync(join(ROOT, 'scripts'), join(root, 'scripts'), { recursive: true });
  cpSync(join(ROOT, 'patches'), join(root, 'patches'), { recursive: true });
  cpSync(ssh2, join(root, 'node_modules', 'ssh2'), { recursive: true });
  return { root, ssh2: join(root, 'node_modules', 'ssh2') };
}

/** Runs the script as the install does, but with an empty PATH: it must need no other program. */
function applyPatches(root: string, args: string[] = []): Promise<RunResult> {
  return run(process.execPath, [join(root, 'scripts', 'apply-patches.mjs'), ...args], { env: { ...process.env, PATH: join(dir, 'no-programs-here') } });
}

/** Every file below `top`: relative path → mode and content. */
function snapshot(top: string): Map<string, { mode: number; content: Buffer }> {
  const files = new Map<string, { mode: number; content: Buffer }>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else files.set(relative(top, p), { mode: statSync(p).mode, content: readFileSync(p) });
    }
  };
  walk(top);
  return files;
}

/** The paths whose mode or bytes differ between two snapshots (or that only one has). */
function differences(a: Map<string, { mode: number; content: Buffer }>, b: Map<string, { mode: number; content: Buffer }>): string[] {
  const paths = new Set([...a.keys(), ...b.keys()]);
  return [...paths].filter((p) => {
    const x = a.get(p);
    const y = b.get(p);
    return !x || !y || x.mode !== y.mode || !x.content.equals(y.content);
  }).sort();
}

const PATCHED_FILES = ['lib/protocol/Protocol.js', 'lib/protocol/crypto.js', 'lib/protocol/crypto/src/binding.cc', 'lib/protocol/kex.js', 'lib/server.js'];

test('a pristine ssh2 1.17.0 is patched byte for byte as patch(1) patches it; a second run says it is already applied', async (t) => {
  const w = installRoot('pristine-install', pristine);
  const r = await applyPatches(w.root);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `airlock: applied ${PATCH}\n`);
  assert.equal(r.stderr, '');
  const patched = snapshot(w.ssh2);
  assert.deepEqual(differences(snapshot(pristine), patched), PATCHED_FILES, 'exactly the five files of the patch changed');
  assert.deepEqual(readdirSync(join(w.ssh2, 'lib')).filter((f) => f.includes('airlock-patch')), [], 'no temporary file left');

  const again = await applyPatches(w.root);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, `airlock: ${PATCH} already applied\n`);
  assert.deepEqual(differences(patched, snapshot(w.ssh2)), [], 'the second run wrote nothing');

  await t.test('patch(1) makes the same files', { skip: patchProgram ? false : 'patch(1) is not installed (nothing needs it now; it is only the oracle here)' }, async () => {
    const oracle = join(dir, 'oracle');
    cpSync(pristine, oracle, { recursive: true });
    const p = await run(patchProgram!, ['-p1', '-f', '--no-backup-if-mismatch', '-d', oracle, '-i', PATCH_FILE]);
    assert.equal(p.code, 0, p.stdout + p.stderr);
    assert.doesNotMatch(p.stdout, /fuzz|offset/i);
    assert.deepEqual(differences(snapshot(oracle), patched), [], 'same bytes and modes as patch(1)');
  });
});

test('--dry-run on a pristine copy says the patch would be applied and writes nothing', async () => {
  const w = installRoot('dry-run', pristine);
  const r = await applyPatches(w.root, ['--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `airlock: ${PATCH} would be applied\n`);
  assert.deepEqual(differences(snapshot(pristine), snapshot(w.ssh2)), []);
});

test('another installed version is refused with what to do, and nothing is written', async () => {
  const w = installRoot('other-version', pristine);
  const pkg = join(w.ssh2, 'package.json');
  writeFileSync(pkg, readFileSync(pkg, 'utf8').replace('"version": "1.17.0"', '"version": "1.17.1"'));
  const before = snapshot(w.ssh2);
  const r = await applyPatches(w.root);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `airlock: ${PATCH} is for ssh2 1.17.0, but 1.17.1 is installed. Carry the changes to 1.17.1 (docs/ssh2-extensions.md, "Upgrading ssh2") or pin 1.17.0.\n`);
  assert.deepEqual(differences(before, snapshot(w.ssh2)), []);
});

test('a hunk that does not match exactly fails the install loudly and writes nothing, not even the files that would match', async (t) => {
  // Line 214 of lib/server.js lies inside the patch's first hunk for that file (@@ -213,6 +213,15 @@).
  const edits: [string, (lines: string[]) => void][] = [
    ['an edited context line', (lines) => (lines[213] = `${lines[213]} `)],
    // patch(1) would apply this hunk at an offset of one line; here it must match where it says.
    ['a line added above a hunk', (lines) => lines.splice(200, 0, '// added')],
  ];
  for (const [name, edit] of edits) {
    await t.test(name, async () => {
      const w = installRoot(`mismatch-${name.replaceAll(' ', '-')}`, pristine);
      const server = join(w.ssh2, 'lib', 'server.js');
      const lines = readFileSync(server, 'utf8').split('\n');
      edit(lines);
      writeFileSync(server, lines.join('\n'));
      const before = snapshot(w.ssh2);
      const r = await applyPatches(w.root);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`^airlock: ${PATCH.replace(/[+.]/g, '\\$&')} does not apply: node_modules/ssh2 is neither ssh2 1\\.17\\.0 as published nor with the patch applied`));
      assert.match(r.stderr, /\n {2}lib\/protocol\/Protocol\.js: as published\n {2}lib\/protocol\/crypto\.js: as published\n {2}lib\/protocol\/kex\.js: as published\n {2}lib\/server\.js: neither; against the published text, @@ -213,6 \+213,15 @@: line \d+ is /);
      assert.deepEqual(differences(before, snapshot(w.ssh2)), [], 'Protocol.js, crypto.js and kex.js were not patched on their own');
    });
  }
});

test('a half-patched copy (one file put back as published) is neither, and is left alone', async () => {
  const w = installRoot('half-patched', pristine);
  assert.equal((await applyPatches(w.root)).code, 0);
  cpSync(join(pristine, 'lib', 'server.js'), join(w.ssh2, 'lib', 'server.js'));
  const before = snapshot(w.ssh2);
  const r = await applyPatches(w.root);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\n {2}lib\/protocol\/Protocol\.js: patched\n {2}lib\/protocol\/crypto\.js: patched\n {2}lib\/protocol\/kex\.js: patched\n {2}lib\/server\.js: as published\n/);
  assert.deepEqual(differences(before, snapshot(w.ssh2)), []);
});

test('a diff(1) patch with last lines lacking their newline and hunks at the top and middle gives the new files exactly', async (t) => {
  const src = join(dir, 'demo-src');
  const many = Array.from({ length: 40 }, (_, i) => `line ${i + 1}\n`);
  const files: [string, string, string][] = [
    ['lib/newline-added.txt', 'one\ntwo\nthree', 'one\ntwo\nthree\nfour\n'],
    ['lib/newline-removed.txt', 'one\ntwo\n', 'one\n2\ntwo'],
    ['lib/top-and-middle.txt', many.join(''), ['first\n', ...many.slice(0, 20), 'inserted\n', ...many.slice(21)].join('')],
  ];
  for (const [path, published, changed] of files) {
    for (const [side, text] of [['a', published], ['b', changed]] as const) {
      mkdirSync(dirname(join(src, side, path)), { recursive: true });
      writeFileSync(join(src, side, path), text);
    }
  }
  writeFileSync(join(src, 'a', 'package.json'), '{ "name": "demo", "version": "1.0.0" }\n');
  const diff = await run('diff', ['-ru', 'a/lib', 'b/lib'], { cwd: src });
  assert.equal(diff.code, 1, diff.stderr); // 1: the trees differ
  assert.match(diff.stdout, /\\ No newline at end of file/);

  const root = join(dir, 'demo');
  cpSync(join(ROOT, 'scripts'), join(root, 'scripts'), { recursive: true });
  mkdirSync(join(root, 'patches'));
  writeFileSync(join(root, 'patches', 'demo+1.0.0.patch'), `A header comment, as ours have.\n\n${diff.stdout}`);
  cpSync(join(src, 'a'), join(root, 'node_modules', 'demo'), { recursive: true });
  const r = await applyPatches(root);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'airlock: applied demo+1.0.0.patch\n');
  for (const [path, , changed] of files) assert.equal(readFileSync(join(root, 'node_modules', 'demo', path), 'utf8'), changed, path);
  const again = await applyPatches(root);
  assert.equal(again.stdout, 'airlock: demo+1.0.0.patch already applied\n');

  await t.test('patch(1) agrees', { skip: patchProgram ? false : 'patch(1) is not installed' }, async () => {
    const oracle = join(dir, 'demo-oracle');
    cpSync(join(src, 'a'), oracle, { recursive: true });
    const p = await run(patchProgram!, ['-p1', '-f', '--no-backup-if-mismatch', '-d', oracle, '-i', join(root, 'patches', 'demo+1.0.0.patch')]);
    assert.equal(p.code, 0, p.stdout + p.stderr);
    assert.deepEqual(differences(snapshot(oracle), snapshot(join(root, 'node_modules', 'demo'))), []);
  });
});
