/**
 * A benchmark user's key pair and certificate, written as ssh expects them (`id_ed25519`, `.pub`,
 * `-cert.pub`). No admin command issues a user certificate (users get theirs by signing in), so the CA
 * is called directly, as the HTTP API would after sign-in.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCore } from '../src/server.ts';
import { loadConfig } from '../src/config.ts';
import { publicKeyFromKeyObject, formatPublicKey } from '../src/ssh/keys.ts';
import { formatOpenSshPrivateKey } from '../src/ssh/private-key.ts';

/** Writes `dir/id_ed25519` (+ `.pub`, `-cert.pub`) for `userName`, certified by the CA in `dataDir`. */
export async function writeUserCertificate(dataDir: string, dir: string, userName: string): Promise<{ key: string; cert: string; privateKey: KeyObject; certBlob: Buffer }> {
  const key = join(dir, 'id_ed25519');
  const cert = `${key}-cert.pub`;
  const { privateKey } = generateKeyPairSync('ed25519');
  const core = await openCore(loadConfig({ env: {}, flags: { data_dir: dataDir } }), { log: null });
  try {
    const publicKey = publicKeyFromKeyObject(privateKey);
    writeFileSync(key, formatOpenSshPrivateKey(privateKey, userName), { mode: 0o600 });
    writeFileSync(`${key}.pub`, formatPublicKey(publicKey, userName) + '\n');
    const user = await core.store.users.byName(userName);
    if (user === undefined) throw new Error(`no user ${userName} in ${dataDir}`);
    const issued = await core.ca.issueUserCertificate({ user, publicKey, method: 'admin', clientAddress: null });
    writeFileSync(cert, issued.line + '\n', { mode: 0o600 });
    return { key, cert, privateKey, certBlob: Buffer.from(issued.line.split(' ')[1]!, 'base64') };
  } finally {
    await core.close();
  }
}
