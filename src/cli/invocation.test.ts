import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliCommand } from './invocation.ts';

test('hints name the command as it was started: npm run -s in a checkout, airlock on PATH, npx for a local install', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-invocation-'));
  try {
    const checkoutMain = join(dir, 'checkout', 'src', 'cli', 'main.ts');
    mkdirSync(join(dir, 'checkout', 'src', 'cli'), { recursive: true });
    writeFileSync(checkoutMain, '');
    // npm start / npm run airlock -- serve in a checkout.
    assert.equal(cliCommand({ npm_package_name: 'airlock', npm_lifecycle_event: 'start', PATH: '/usr/bin' }, checkoutMain), 'npm run -s airlock --');
    assert.equal(cliCommand({ npm_package_name: 'airlock', npm_lifecycle_event: 'airlock', PATH: '/usr/bin' }, checkoutMain), 'npm run -s airlock --');
    // node src/cli/main.ts serve: still a checkout, and still no airlock on PATH.
    assert.equal(cliCommand({ PATH: '/usr/bin' }, checkoutMain), 'npm run -s airlock --');

    // A global install: PATH has an airlock link to the running script.
    const pkgBin = join(dir, 'global', 'lib', 'node_modules', 'airlock', 'bin');
    mkdirSync(pkgBin, { recursive: true });
    writeFileSync(join(pkgBin, 'airlock.mjs'), '');
    const binDir = join(dir, 'global', 'bin');
    mkdirSync(binDir);
    symlinkSync(join(pkgBin, 'airlock.mjs'), join(binDir, 'airlock'));
    assert.equal(cliCommand({ PATH: `/usr/bin:${binDir}` }, join(binDir, 'airlock')), 'airlock');
    // The same package, not on PATH (a project's node_modules), or run by npx.
    assert.equal(cliCommand({ PATH: '/usr/bin' }, join(pkgBin, 'airlock.mjs')), 'npx airlock');
    assert.equal(cliCommand({ PATH: '/usr/bin', npm_command: 'exec' }, join(pkgBin, 'airlock.mjs')), 'npx airlock');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
