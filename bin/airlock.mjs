#!/usr/bin/env node
// The `airlock` executable. A source checkout runs the TypeScript directly (Node 24 and 26 strip types);
// an installed package runs the compiled dist/, because Node refuses to strip types under node_modules.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join, dirname } from 'node:path';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`airlock: needs Node.js 24 or newer, this is ${process.version}. Run it through npm in a checkout (npm run -s airlock -- ...) or install Node 26 (24 works too).\n`);
  process.exit(1);
}
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src', 'cli', 'main.ts');
const dist = join(root, 'dist', 'cli', 'main.js');
const inNodeModules = root.split(/[\\/]/).includes('node_modules');
const entry = !inNodeModules && existsSync(src) ? src : dist;
await import(pathToFileURL(entry).href);
