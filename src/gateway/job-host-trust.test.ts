import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { formatCertificate, signCertificate } from '../ssh/certificate.ts';
import { publicKeyFromKeyObject } from '../ssh/keys.ts';
import { hostKeyPin, presentedKeyMatches } from './job-host-trust.ts';

const ed = () => generateKeyPairSync('ed25519').privateKey;
const hostCa = ed();
const hostCaBlob = publicKeyFromKeyObject(hostCa).blob;
const hostKey = publicKeyFromKeyObject(ed());
const now = 1_800_000_000n;

function hostCert(opts: { principals?: string[]; type?: 'user' | 'host'; ca?: ReturnType<typeof ed>; validBefore?: bigint } = {}): string {
  return formatCertificate(signCertificate({
    type: opts.type ?? 'host', publicKey: hostKey, serial: 7n, keyId: 'job1', principals: opts.principals ?? ['job1'],
    validAfter: now - 60n, validBefore: opts.validBefore ?? now + 3600n, criticalOptions: {}, extensions: {},
  }, opts.ca ?? hostCa));
}

test('a pinned key is the pin', () => {
  const pin = hostKeyPin({ kind: 'pinned', publicKey: hostKey }, { hostCaBlob, names: ['job1'], nowSeconds: now });
  assert.ok(presentedKeyMatches(pin, hostKey.blob));
  assert.ok(!presentedKeyMatches(pin, publicKeyFromKeyObject(ed()).blob));
});

test('a host certificate from the host CA for the job\'s name or address pins its key', () => {
  for (const names of [['job1', '10.0.0.5'], ['other', 'job1']]) {
    const pin = hostKeyPin({ kind: 'host-certificate', certificate: hostCert() }, { hostCaBlob, names, nowSeconds: now });
    assert.ok(presentedKeyMatches(pin, hostKey.blob));
  }
});

test('a host certificate is refused for another name, another CA, as a user certificate, or expired', () => {
  const cases = [
    hostCert({ principals: ['elsewhere'] }),
    hostCert({ ca: ed() }),
    hostCert({ type: 'user' }),
    hostCert({ validBefore: now - 1n }),
  ];
  for (const certificate of cases) {
    assert.throws(() => hostKeyPin({ kind: 'host-certificate', certificate }, { hostCaBlob, names: ['job1', '10.0.0.5'], nowSeconds: now }), { code: 'invalid_certificate' });
  }
});
