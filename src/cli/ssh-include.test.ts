import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { analyseInclude, ensureIncludeFirst, includeLine } from './ssh-include.ts';

const HOME = '/home/alice';
const OWNED = '/home/alice/.ssh/airlock/config';
const LINE = 'Include /home/alice/.ssh/airlock/config';

test('a missing or empty ~/.ssh/config becomes just the Include line', () => {
  for (const before of [null, '', '\n\n']) {
    const r = ensureIncludeFirst(before, OWNED, HOME);
    assert.equal(r.changed, true);
    assert.match(r.text, new RegExp(`^# Added by .*\\n${LINE}\\n$`));
  }
});

test('the Include goes above the user\'s own lines, which are kept as they were', () => {
  const before = '# my hosts\nHost *\n    ServerAliveInterval 30\n\nHost lab\n    HostName lab.example.org\n';
  const r = ensureIncludeFirst(before, OWNED, HOME);
  assert.equal(r.changed, true);
  assert.ok(r.text.startsWith(`# Added by \`airlock config\``));
  assert.equal(r.text.split('\n')[1], LINE);
  assert.ok(r.text.endsWith(before), 'the old text follows unchanged');
  const a = analyseInclude(r.text, OWNED, HOME);
  assert.deepEqual({ present: a.present, line: a.line, count: a.count, shadowedBy: a.shadowedBy }, { present: true, line: 2, count: 1, shadowedBy: [] });
});

test('running it again changes nothing', () => {
  const once = ensureIncludeFirst('Host lab\n  User bob\n', OWNED, HOME).text;
  const twice = ensureIncludeFirst(once, OWNED, HOME);
  assert.equal(twice.changed, false);
  assert.equal(twice.text, once);
});

test('an Include below a Host line is moved to the top, never duplicated', () => {
  const before = `Host *\n    User bob\n${LINE}\nHost x\n    Port 1\n${LINE}\n`;
  const a = analyseInclude(before, OWNED, HOME);
  assert.equal(a.present, true);
  assert.equal(a.count, 2);
  assert.deepEqual(a.shadowedBy.map((s) => [s.line, s.kind]), [[1, 'host']]);
  const r = ensureIncludeFirst(before, OWNED, HOME);
  assert.equal(r.changed, true);
  assert.equal(r.text.split('\n').filter((l) => l === LINE).length, 1);
  assert.equal(analyseInclude(r.text, OWNED, HOME).shadowedBy.length, 0);
  assert.match(r.text, /Host \*\n {4}User bob\nHost x\n {4}Port 1\n$/);
});

test('shadowing: Host, Match and the options Airlock sets count; other top-level options do not', () => {
  const text = `ServerAliveInterval 30\nUser=bob\nMatch host foo\n  Port 2\nHost *\n${LINE}\n`;
  assert.deepEqual(analyseInclude(text, OWNED, HOME).shadowedBy.map((s) => [s.line, s.kind, s.text]), [
    [2, 'option', 'User=bob'],
    [3, 'match', 'Match host foo'],
    [5, 'host', 'Host *'],
  ]);
});

test('an Include written with ~ or quotes is recognised as ours', () => {
  for (const l of ['Include ~/.ssh/airlock/config', 'include "/home/alice/.ssh/airlock/config"', 'Include=/home/alice/.ssh/airlock/config', '  INCLUDE /etc/foo /home/alice/.ssh/airlock/config']) {
    const a = analyseInclude(`${l}\nHost x\n`, OWNED, HOME);
    assert.equal(a.present, true, l);
    assert.equal(ensureIncludeFirst(`${l}\nHost x\n`, OWNED, HOME).changed, false, l);
  }
  assert.equal(analyseInclude('Include /home/alice/.ssh/other\n', OWNED, HOME).present, false);
  assert.equal(analyseInclude('# Include /home/alice/.ssh/airlock/config\n', OWNED, HOME).present, false);
});

test('a home with a space gets a quoted Include that ssh reads', () => {
  assert.equal(includeLine('/home/a b/.ssh/airlock/config'), 'Include "/home/a b/.ssh/airlock/config"');
  const dir = mkdtempSync(join(tmpdir(), 'airlock-include-'));
  try {
    const home = join(dir, 'a b');
    const owned = join(dir, 'owned config');
    writeFileSync(owned, 'Host from-airlock\n    Port 4242\n');
    const user = join(dir, 'config');
    writeFileSync(user, ensureIncludeFirst('ServerAliveInterval 17\nHost *\n    Port 22\n', owned, home).text);
    const r = spawnSync('ssh', ['-F', user, '-G', 'from-airlock'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^port 4242$/m, 'the included file is read before the user\'s Host *');
    const other = spawnSync('ssh', ['-F', user, '-G', 'elsewhere'], { encoding: 'utf8' });
    assert.match(other.stdout, /^port 22$/m);
    // ssh restores the Host state after an Include: the user's top-level options still apply everywhere.
    assert.match(other.stdout, /^serveraliveinterval 17$/m);
    assert.match(r.stdout, /^serveraliveinterval 17$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('property: after ensureIncludeFirst the Include is the first directive, exactly once, and the rest keeps its directives in order', () => {
  const lineArb = fc.oneof(
    fc.constantFrom('Host *', 'Host lab', 'Match all', '  User bob', '  Port 2', '# comment', '', LINE, 'Include ~/.ssh/airlock/config', 'Include /other', 'ServerAliveInterval 5'),
  );
  fc.assert(fc.property(fc.array(lineArb, { maxLength: 12 }), (lines) => {
    const before = lines.join('\n');
    const r = ensureIncludeFirst(before, OWNED, HOME);
    const a = analyseInclude(r.text, OWNED, HOME);
    assert.equal(a.present, true);
    assert.equal(a.count, 1);
    assert.equal(a.shadowedBy.length, 0);
    const directives = (t: string) => t.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    const ours = (l: string) => l === LINE || l === 'Include ~/.ssh/airlock/config';
    assert.deepEqual(directives(r.text).slice(1), directives(before).filter((l) => !ours(l)));
    assert.equal(ensureIncludeFirst(r.text, OWNED, HOME).changed, false, 'idempotent');
  }), { numRuns: 500 });
});
