/**
 * The CA's two signing keys (user CA, host CA): Ed25519, created on first start, stored as PKCS#8 PEM
 * with mode 0600 inside `<data dir>/ca/`, encrypted (AES-256-CBC PKCS#8, scrypt-derived by OpenSSL) when a
 * passphrase is configured. Creation uses O_EXCL so that two processes starting at once on one data
 * directory cannot end up with different keys.
 */
import { generateKeyPairSync, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, statSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { AirlockError } from '../errors.ts';
import { publicKeyFromKeyObject, type PublicKey } from '../ssh/keys.ts';

export interface CaKey {
  /** Which CA this is. */
  readonly role: 'user' | 'host';
  readonly privateKey: KeyObject;
  readonly publicKey: PublicKey;
}

export interface CaKeys {
  user: CaKey;
  host: CaKey;
}

function loadOrCreate(dir: string, role: 'user' | 'host', passphrase: string | undefined): CaKey {
  const path = join(dir, `${role}_ca.pem`);
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const { privateKey } = generateKeyPairSync('ed25519');
    const out = passphrase
      ? privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase })
      : privateKey.export({ type: 'pkcs8', format: 'pem' });
    try {
      writeFileSync(path, out, { mode: 0o600, flag: 'wx' });
      pem = out.toString();
    } catch (raceErr) {
      // Another process created it between our read and write: use theirs.
      if ((raceErr as NodeJS.ErrnoException).code !== 'EEXIST') throw raceErr;
      pem = readFileSync(path, 'utf8');
    }
  }
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    // Refuse to sign with a key others can read: it may already be compromised. Say how to fix it.
    throw new AirlockError('config', `The ${role} CA key ${path} is readable by others (mode ${mode.toString(8)}); run chmod 600 on it and check who copied it.`);
  }
  const encrypted = pem.includes('ENCRYPTED PRIVATE KEY');
  if (encrypted && !passphrase) {
    throw new AirlockError('config', `The ${role} CA key is encrypted; set AIRLOCK_CA_PASSPHRASE in the environment.`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(encrypted ? { key: pem, format: 'pem', passphrase: passphrase! } : pem);
  } catch (cause) {
    throw new AirlockError('config', `Cannot open the ${role} CA key ${path}: wrong AIRLOCK_CA_PASSPHRASE or a damaged file.`, { cause });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new AirlockError('config', `The ${role} CA key ${path} is not an Ed25519 key.`);
  }
  return { role, privateKey, publicKey: publicKeyFromKeyObject(createPublicKey(privateKey), `airlock-${role}-ca`) };
}

/** Loads the user and host CA keys from `<dataDir>/ca`, creating them on first start. */
export function loadCaKeys(dataDir: string, passphrase?: string): CaKeys {
  const dir = join(dataDir, 'ca');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  return { user: loadOrCreate(dir, 'user', passphrase), host: loadOrCreate(dir, 'host', passphrase) };
}
