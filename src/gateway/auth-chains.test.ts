import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isAirlockError } from '../errors.ts';
import {
  advertisedMethods, chainName, chainsFor, chainVerdict, firstFactors, parseChainOverrides, parseChains, type AuthChainPolicy,
} from './auth-chains.ts';

const policy = (defaults: string, users = '', projects = ''): AuthChainPolicy => ({
  defaults: parseChains(defaults, 'AIRLOCK_GATEWAY_AUTH'),
  users: parseChainOverrides(users, 'AIRLOCK_GATEWAY_AUTH_USERS'),
  projects: parseChainOverrides(projects, 'AIRLOCK_GATEWAY_AUTH_PROJECTS'),
});

test('chains parse, deduplicate, and refuse unknown methods', () => {
  assert.deepEqual(parseChains('certificate, publickey+browser,certificate', 'x').map(chainName), ['certificate', 'publickey+browser']);
  for (const bad of ['', 'password', 'browser+publickey', 'publickey+certificate', 'keyboard-interactive']) {
    assert.throws(() => parseChains(bad, 'x'), (e) => isAirlockError(e, 'config'), bad);
  }
  assert.throws(() => parseChainOverrides('Alice Smith=browser', 'x'), (e) => isAirlockError(e, 'config'));
});

test('advertised methods are the union of all chains, the same for every user', () => {
  assert.deepEqual(advertisedMethods(policy('certificate')), ['publickey']);
  assert.deepEqual(advertisedMethods(policy('certificate', '', 'sensitive=publickey+browser')), ['publickey', 'keyboard-interactive']);
  assert.deepEqual(advertisedMethods(policy('browser')), ['keyboard-interactive']);
  assert.deepEqual(firstFactors(policy('browser', 'bob=publickey')), ['publickey']);
});

test('a user override wins; project overrides intersect; unknown users get the defaults', () => {
  const p = policy('certificate|browser', 'alice=publickey+browser', 'sensitive=publickey+browser|certificate+browser; teaching=certificate+browser|browser');
  assert.deepEqual(chainsFor(p, 'alice', ['sensitive']).map(chainName), ['publickey+browser']);
  assert.deepEqual(chainsFor(p, 'bob', []).map(chainName), ['certificate', 'browser']);
  assert.deepEqual(chainsFor(p, null, []).map(chainName), ['certificate', 'browser']);
  assert.deepEqual(chainsFor(p, 'carol', ['sensitive', 'other']).map(chainName), ['publickey+browser', 'certificate+browser']);
  assert.deepEqual(chainsFor(p, 'dave', ['sensitive', 'teaching']).map(chainName), ['certificate+browser']);
  const none = policy('certificate', '', 'a=certificate; b=browser');
  assert.deepEqual(chainsFor(none, 'erin', ['a', 'b']), [], 'no common chain: no login (fail closed)');
});

test('verdicts: a whole chain accepts, a prefix continues with the browser, anything else is refused', () => {
  const chains = parseChains('certificate,publickey+browser', 'x');
  assert.equal(chainVerdict(chains, ['certificate']), 'accept');
  assert.equal(chainVerdict(chains, ['publickey']), 'continue_with_browser');
  assert.equal(chainVerdict(chains, ['publickey', 'browser']), 'accept');
  assert.equal(chainVerdict(chains, ['browser']), 'refuse');
  assert.equal(chainVerdict(chains, ['certificate', 'browser']), 'refuse');
  assert.equal(chainVerdict([], ['certificate']), 'refuse');
});

test('property: a verdict never accepts factors that are not exactly a configured chain', () => {
  const factor = fc.constantFrom<'certificate' | 'publickey' | 'browser'>('certificate', 'publickey', 'browser');
  const chainText = fc.constantFrom('certificate', 'publickey', 'browser', 'certificate+browser', 'publickey+browser');
  fc.assert(fc.property(fc.array(chainText, { minLength: 1, maxLength: 5 }), fc.array(factor, { minLength: 1, maxLength: 3 }), (texts, passed) => {
    const chains = parseChains(texts.join(','), 'x');
    const verdict = chainVerdict(chains, passed);
    if (verdict === 'accept') assert.ok(chains.some((c) => chainName(c) === passed.join('+')));
    if (verdict === 'continue_with_browser') assert.ok(chains.some((c) => chainName(c) === [...passed, 'browser'].join('+')));
  }));
});
