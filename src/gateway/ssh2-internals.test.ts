import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { nativeCryptoLoaded } from './ssh2-internals.ts';

test("ssh2's native crypto addon is loaded (without it chacha20-poly1305 costs 2.3x the CPU)", () => {
  const require = createRequire(import.meta.url);
  const addon = require('ssh2/lib/protocol/crypto/build/Release/sshcrypto.node') as Record<string, unknown>;
  assert.equal(typeof addon.ChaChaPolyCipher, 'function');
  assert.equal(typeof addon.AESGCMCipher, 'function');
  assert.equal(nativeCryptoLoaded(), true);
});
