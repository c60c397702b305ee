import { test } from 'node:test';
import assert from 'node:assert/strict';
import { certificatePermitsPortForwarding, certificateRestrictionProblem, forwardingRefusal, GATEWAY_CRITICAL_OPTIONS, NO_PORT_FORWARDING_MESSAGE } from './certificate-restrictions.ts';

test('force-command is refused, source-address alone is not (checked by verifyCertificate)', () => {
  assert.match(certificateRestrictionProblem({ criticalOptions: { 'force-command': '/bin/true' } }) ?? '', /force-command.*cannot honour/);
  assert.equal(certificateRestrictionProblem({ criticalOptions: { 'source-address': '10.0.0.0/8' } }), undefined);
  assert.equal(certificateRestrictionProblem({ criticalOptions: {} }), undefined);
  assert.deepEqual([...GATEWAY_CRITICAL_OPTIONS].sort(), ['force-command', 'source-address'], 'verify-required and the rest stay unknown, hence refused');
});

test('permit-port-forwarding is read as a flag of its own, not inherited', () => {
  assert.equal(certificatePermitsPortForwarding({ extensions: { 'permit-port-forwarding': '', 'permit-pty': '' } }), true);
  assert.equal(certificatePermitsPortForwarding({ extensions: { 'permit-pty': '' } }), false);
  assert.equal(certificatePermitsPortForwarding({ extensions: JSON.parse('{"__proto__": {"permit-port-forwarding": ""}}') as Record<string, string> }), false);
});

test('forwarding: certificate logins need the flag (fail closed when it is missing); plain keys and browser logins carry no such restriction', () => {
  assert.equal(forwardingRefusal({ method: 'certificate', permitPortForwarding: true }), undefined);
  assert.equal(forwardingRefusal({ method: 'certificate', permitPortForwarding: false }), NO_PORT_FORWARDING_MESSAGE);
  assert.equal(forwardingRefusal({ method: 'certificate' }), NO_PORT_FORWARDING_MESSAGE);
  assert.equal(forwardingRefusal({ method: 'publickey' }), undefined);
  assert.equal(forwardingRefusal({ method: 'browser' }), undefined);
});
