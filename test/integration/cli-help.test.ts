/** Every researcher command explains itself with examples (`airlock COMMAND --help`). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { airlock } from '../harness/airlock.ts';

const COMMANDS = ['login', 'logout', 'status', 'config', 'hosts', 'ssh', 'tunnel', 'doctor', 'putty', 'certs list', 'keys add'];

for (const command of COMMANDS) {
  test(`airlock ${command} --help has a description and an example`, async () => {
    const r = await airlock([...command.split(' '), '--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Usage: airlock ${command}`, 'm'));
    assert.match(r.stdout, /\nExamples?:\n {2}(airlock|ssh|pass) /);
  });
}
