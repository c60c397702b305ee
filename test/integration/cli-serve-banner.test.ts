/**
 * The start banner of `airlock serve` names the commands as they work where it was started: a source
 * checkout has no `airlock` on PATH, so `npm start` prints `npm run -s airlock -- admin …`, and that
 * printed command, run as shown, gives data on stdout that a script can parse (without `-s`, npm's own
 * "> airlock@… airlock" lines would be mixed into it).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../harness/airlock.ts';
import { run, startProcess, waitFor } from '../harness/processes.ts';

const dir = mkdtempSync(join(tmpdir(), 'airlock-it-banner-'));
const env: NodeJS.ProcessEnv = {
  ...process.env,
  // npm runs the package's scripts with node_modules/.bin first on PATH (Node 24 there).
  AIRLOCK_HTTP_LISTEN: '127.0.0.1:0', AIRLOCK_SSH_LISTEN: '127.0.0.1:0',
};
let stop: (() => Promise<void>) | undefined;

after(async () => {
  await stop?.();
  rmSync(dir, { recursive: true, force: true });
});

test('npm start in a checkout prints npm run -s airlock -- admin …, and that command works as printed', async () => {
  const dataDir = join(dir, 'data');
  // Its own process group, so that stopping it stops npm's child (the server) too.
  const proc = startProcess('npm', ['run', 'airlock', '--', 'serve', '--data-dir', dataDir], { cwd: ROOT, env, detached: true });
  stop = async () => {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.child.once('exit', () => resolve()));
    process.kill(-proc.child.pid!, 'SIGTERM');
    const timer = setTimeout(() => process.kill(-proc.child.pid!, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  const line = await waitFor('the next steps in the banner', () => {
    if (proc.child.exitCode !== null) throw new Error(`serve exited early:\n${proc.output()}`);
    return /^ +(.*) admin --data-dir (\S+) user add ADMIN_NAME --admin$/m.exec(proc.output()) ?? undefined;
  }, 60_000);
  assert.equal(line[1], 'npm run -s airlock --', proc.output());
  assert.doesNotMatch(proc.output(), /^ +airlock (admin|login) /m);

  // The printed form, run as printed, with --json: stdout is exactly the JSON.
  const [npm, ...prefix] = line[1].split(' ');
  const add = await run(npm!, [...prefix, 'admin', '--data-dir', line[2]!, 'user', 'add', 'ops', '--admin', '--password-stdin', '--json'], { cwd: ROOT, env, input: 'correct horse battery staple\n', timeoutMs: 60_000 });
  assert.equal(add.code, 0, add.stderr);
  assert.equal((JSON.parse(add.stdout) as { name: string }).name, 'ops');
});
