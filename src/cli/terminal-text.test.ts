import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { escapeForTerminal } from './terminal-text.ts';
import { table } from './output.ts';

test('terminal escapes, forged lines and bidi overrides become visible text', () => {
  assert.equal(escapeForTerminal('alice'), 'alice');
  assert.equal(escapeForTerminal('ünïcödé ok'), 'ünïcödé ok');
  assert.equal(escapeForTerminal('\x1b[2J\x1b]52;c;ZXZpbA==\x07'), '\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07');
  assert.equal(escapeForTerminal('x\n2026-12-04T00:00:00Z  auth.password_totp  success'), 'x\\n2026-12-04T00:00:00Z  auth.password_totp  success');
  assert.equal(escapeForTerminal('a\rb\tc\x00d\x7f\x9b'), 'a\\rb\\tc\\x00d\\x7f\\x9b');
  assert.equal(escapeForTerminal('evil\u202egnp.exe\u2028'), 'evil\\u{202e}gnp.exe\\u{2028}');
  // A literal backslash sequence cannot pass for an escape.
  assert.equal(escapeForTerminal('\\x1b'), '\\\\x1b');
});

test('property: escaped text has no control characters and every table row stays one line', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 40 }), { minLength: 1, maxLength: 4 }), (cells) => {
      // eslint-disable-next-line no-control-regex -- the property is about control characters
      for (const c of cells) assert.doesNotMatch(escapeForTerminal(c), /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]/);
      const rendered = table(cells.map((_, i) => `H${i}`), [cells]);
      assert.equal(rendered.split('\n').length, 2);
    }),
  );
});
