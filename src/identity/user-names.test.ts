import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAirlockError } from '../errors.ts';
import { assertNoLoginNameConflict, checkUserName, isEmailStyleName, loginNameConflict, loginNameFor, userNameFromClaim } from './user-names.ts';

test('local names and e-mail style names are accepted; nothing that could split a principal or an ssh config line', () => {
  for (const ok of ['alice', '_svc', 'first.last', 'x'.repeat(32), 'bob@uni.example', 'b.o-b_1@sub.uni-x.example', '0123abc@lifescience-ri.eu']) {
    assert.doesNotThrow(() => checkUserName(ok), ok);
  }
  const bad = [
    '', 'Bob@uni.example', 'bob@uni', 'bob@@uni.example', 'bob@a@uni.example', '@uni.example', 'bob@', 'bob@.example', 'bob@uni..example',
    'bob@-uni.example', 'bob@uni.example.', 'bob.@uni.example', 'b..ob@uni.example', '.bob@uni.example', 'bob+tag@uni.example',
    'bob,root@uni.example', 'bob @uni.example', 'bob@uni.example ', 'bob\n@uni.example', 'bob@uni.example\0', 'bob%x@uni.example',
    '"bob"@uni.example', 'bob@[127.0.0.1]', 'bob@uni_x.example', 'böb@uni.example', `${'b'.repeat(55)}@uni.example`,
  ];
  for (const name of bad) {
    assert.throws(() => checkUserName(name), (e) => isAirlockError(e, 'bad_request') && /not a valid user name/.test(e.message), JSON.stringify(name));
  }
  assert.throws(() => checkUserName('a\x1b[31m@x.example'), (e) => isAirlockError(e) && !e.message.includes('\x1b'), 'control characters are not echoed');
});

test('the account name: "@" becomes "_" for e-mail style names; local names are their own account', () => {
  assert.equal(loginNameFor('bob@uni.example'), 'bob_uni.example');
  assert.equal(loginNameFor('alice'), 'alice');
  assert.equal(loginNameFor('bob_uni.example'), 'bob_uni.example');
  assert.equal(isEmailStyleName('bob_uni.example'), false);
});

test('the one other name that maps to the same account is found both ways', () => {
  assert.equal(loginNameConflict('bob@uni.example'), 'bob_uni.example');
  assert.equal(loginNameConflict('bob_uni.example'), 'bob@uni.example');
  assert.equal(loginNameConflict('a_b_uni.example'), 'a_b@uni.example', 'the last "_" is where "@" was: domains have none');
  assert.equal(loginNameConflict('alice'), undefined);
  assert.equal(loginNameConflict('first_last'), undefined, 'no dot after the "_": not a domain');
  // Injective on e-mail names: distinct names never share an account.
  const names = ['a_b@c.example', 'a@b.c.example', 'a.b@c.example', 'a_b.c@example.org', 'a@b_c.example'].filter(isEmailStyleName);
  assert.equal(new Set(names.map(loginNameFor)).size, names.length);
});

test('a conflict is refused at creation and at issuance, naming both names', async () => {
  const users = new Map([['bob_uni.example', { id: 'u1' }], ['bob@uni.example', { id: 'u2' }]]);
  const lookup = async (n: string) => users.get(n);
  await assert.rejects(assertNoLoginNameConflict('bob@uni.example', lookup), (e) => isAirlockError(e, 'conflict') && /bob@uni\.example and bob_uni\.example would both log in to targets as bob_uni\.example/.test(e.message));
  await assert.rejects(assertNoLoginNameConflict('bob_uni.example', lookup, 'u1'), (e) => isAirlockError(e, 'conflict'));
  await assert.doesNotReject(assertNoLoginNameConflict('carol@uni.example', lookup));
  await assert.doesNotReject(assertNoLoginNameConflict('bob@uni.example', async (n) => (n === 'bob@uni.example' ? { id: 'u2' } : undefined), 'u2'));
});

test('a provider\'s claim is folded to lower case, then checked', () => {
  assert.equal(userNameFromClaim('Bob.Smith@Uni.Example'), 'bob.smith@uni.example');
  assert.throws(() => userNameFromClaim('bob smith@uni.example'), (e) => isAirlockError(e, 'bad_request'));
});
