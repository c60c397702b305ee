/**
 * OpenSSH key revocation lists (PROTOCOL.krl; encoding as in OpenSSH's krl.c), the file sshd reads
 * through `RevokedKeys`. Written without a signature section (OpenSSH >= 9.4 refuses signed KRLs).
 * The query follows ssh_krl_check_key: hashes and explicit keys match the plain key of a certificate
 * and its CA key too; serial 0 is never revoked by serial; a section with no CA key matches any CA.
 */
import { createHash } from 'node:crypto';
import { AirlockError } from '../errors.ts';
import type { Certificate } from './certificate.ts';
import { sha256Digest } from './fingerprint.ts';
import { SshReader, SshWriter } from './wire.ts';

/** Revocations for certificates from one CA (or any CA when `caKey` is null). */
export interface KrlCertificateSection {
  /** CA public key blob; null = any CA. */
  caKey: Buffer | null;
  serials: bigint[];
  keyIds: string[];
  /** Inclusive serial ranges, as read from a KRL (buildKrl also accepts them). */
  serialRanges?: { min: bigint; max: bigint }[];
}

/** The content of a KRL. */
export interface KrlSpec {
  version: bigint;
  /** Seconds since the epoch. */
  generatedAt: bigint;
  comment: string;
  certificates: KrlCertificateSection[];
  /** SHA256 of plain key blobs. */
  revokedKeySha256: Buffer[];
  /** Plain key blobs. */
  revokedKeys?: Buffer[];
  /** SHA1 of plain key blobs (only read, for KRLs from elsewhere; never written by Airlock itself unless given). */
  revokedKeySha1?: Buffer[];
}

const MAGIC = Buffer.from('SSHKRL\n\0', 'latin1');
const FORMAT_VERSION = 1;
const SECTION_CERTIFICATES = 1;
const SECTION_EXPLICIT_KEY = 2;
const SECTION_FINGERPRINT_SHA1 = 3;
const SECTION_SIGNATURE = 4;
const SECTION_FINGERPRINT_SHA256 = 5;
const SECTION_EXTENSION = 255;
const CERT_SERIAL_LIST = 0x20;
const CERT_SERIAL_RANGE = 0x21;
const CERT_SERIAL_BITMAP = 0x22;
const CERT_KEY_ID = 0x23;
const CERT_EXTENSION = 0x39;
const UINT64_MAX = 0xffffffffffffffffn;
/** OpenSSH reads bitmaps as bignums, at most SSHBUF_MAX_BIGNUM (16384 bits) + a sign byte. */
const MAX_BITMAP_BYTES = 2049;
/** Bounds how many serials a KRL may expand to, whatever its size. */
const MAX_SERIALS = 1_000_000;
const CERT_SUFFIX = '-cert-v01@openssh.com';

function bad(message: string): AirlockError {
  return new AirlockError('bad_request', message);
}

/** Orders blobs as OpenSSH's blob_cmp does: bytes first, then length. */
function compareBlobs(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  const c = Buffer.compare(a.subarray(0, n), b.subarray(0, n));
  if (c !== 0) return c;
  return a.length - b.length;
}

function uniqueSortedBlobs(blobs: readonly Buffer[]): Buffer[] {
  const sorted = [...blobs].sort(compareBlobs);
  return sorted.filter((b, i) => i === 0 || !b.equals(sorted[i - 1]!));
}

function compareStrings(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Merges serials and ranges into sorted, disjoint, non-adjacent inclusive ranges. */
function normaliseRanges(serials: readonly bigint[], ranges: readonly { min: bigint; max: bigint }[]): { min: bigint; max: bigint }[] {
  const all = [...serials.map((s) => ({ min: s, max: s })), ...ranges];
  for (const r of all) {
    if (typeof r.min !== 'bigint' || typeof r.max !== 'bigint' || r.min < 1n || r.max > UINT64_MAX || r.min > r.max) {
      throw bad('KRL serials must be uint64 values from 1 (serial 0 means "no serial" and cannot be revoked), ranges min <= max');
    }
  }
  all.sort((a, b) => (a.min < b.min ? -1 : a.min > b.min ? 1 : 0));
  const out: { min: bigint; max: bigint }[] = [];
  for (const r of all) {
    const last = out[out.length - 1];
    if (last !== undefined && r.min <= last.max + 1n) {
      if (r.max > last.max) last.max = r.max;
    } else {
      out.push({ min: r.min, max: r.max });
    }
  }
  return out;
}

/**
 * The certificate section body: serial subsections in serial order (runs of three or more as a
 * range, since a range costs two serials; the rest gathered into lists), then one key ID list.
 */
function encodeCertSection(section: KrlCertificateSection): Buffer {
  const w = new SshWriter();
  w.string(section.caKey ?? Buffer.alloc(0));
  w.string(Buffer.alloc(0));
  const ranges = normaliseRanges(section.serials, section.serialRanges ?? []);
  let list: bigint[] = [];
  const flushList = (): void => {
    if (list.length === 0) return;
    const body = new SshWriter();
    for (const s of list) body.uint64(s);
    w.uint8(CERT_SERIAL_LIST).string(body.toBuffer());
    list = [];
  };
  for (const r of ranges) {
    if (r.max - r.min >= 2n) {
      flushList();
      w.uint8(CERT_SERIAL_RANGE).string(new SshWriter().uint64(r.min).uint64(r.max).toBuffer());
    } else {
      for (let s = r.min; s <= r.max; s++) list.push(s);
    }
  }
  flushList();
  const ids = [...new Set(section.keyIds)].sort(compareStrings);
  if (ids.some((id) => id === '')) throw bad('KRL key IDs must not be empty');
  if (ids.length > 0) {
    const body = new SshWriter();
    for (const id of ids) body.string(id);
    w.uint8(CERT_KEY_ID).string(body.toBuffer());
  }
  return w.toBuffer();
}

function blobType(blob: Buffer): string | undefined {
  try {
    return new SshReader(blob).text();
  } catch {
    return undefined;
  }
}

/** Encodes a KRL (no signature section). Sections for the same CA are merged. */
export function buildKrl(spec: KrlSpec): Buffer {
  const w = new SshWriter()
    .raw(MAGIC)
    .uint32(FORMAT_VERSION)
    .uint64(spec.version)
    .uint64(spec.generatedAt)
    .uint64(0n)
    .string(Buffer.alloc(0))
    .string(spec.comment);
  for (const section of mergeSections(spec.certificates)) {
    w.uint8(SECTION_CERTIFICATES).string(encodeCertSection(section));
  }
  const blobSection = (type: number, blobs: readonly Buffer[] | undefined, length: number | undefined, what: string): void => {
    const unique = uniqueSortedBlobs(blobs ?? []);
    if (unique.length === 0) return;
    const body = new SshWriter();
    for (const b of unique) {
      if (length !== undefined && b.length !== length) throw bad(`KRL ${what} must be ${length} bytes each`);
      if (length === undefined) {
        const t = blobType(b);
        if (t === undefined || t.endsWith(CERT_SUFFIX)) throw bad('KRL explicit keys must be plain public key blobs, not certificates');
      }
      body.string(b);
    }
    w.uint8(type).string(body.toBuffer());
  };
  blobSection(SECTION_EXPLICIT_KEY, spec.revokedKeys, undefined, 'keys');
  blobSection(SECTION_FINGERPRINT_SHA1, spec.revokedKeySha1, 20, 'SHA1 hashes');
  blobSection(SECTION_FINGERPRINT_SHA256, spec.revokedKeySha256, 32, 'SHA256 hashes');
  return w.toBuffer();
}

/** Merges certificate sections that name the same CA (or both name any CA), keeping first-seen order. */
function mergeSections(sections: readonly KrlCertificateSection[]): KrlCertificateSection[] {
  const out: KrlCertificateSection[] = [];
  for (const s of sections) {
    const same = out.find((o) => (o.caKey === null ? s.caKey === null : s.caKey !== null && o.caKey.equals(s.caKey)));
    if (same === undefined) {
      out.push({ caKey: s.caKey === null ? null : Buffer.from(s.caKey), serials: [...s.serials], keyIds: [...s.keyIds], serialRanges: [...(s.serialRanges ?? [])] });
    } else {
      same.serials.push(...s.serials);
      same.keyIds.push(...s.keyIds);
      same.serialRanges!.push(...(s.serialRanges ?? []));
    }
  }
  return out;
}

/** Reads an extension (section or subsection) and refuses it if it is critical, like krl.c. */
function readExtension(body: Buffer, what: string): void {
  const r = new SshReader(body, { what: `KRL ${what}` });
  const name = r.text('extension name');
  const critical = r.boolean();
  r.string('extension contents');
  r.expectEnd(`the ${what}`);
  if (critical) throw bad(`KRL has an unsupported critical ${what} ${JSON.stringify(name.slice(0, 64))}`);
}

/** Parses a KRL as ssh-keygen -k writes it (lists, ranges, bitmaps, key IDs, keys, hashes). */
export function parseKrl(buf: Buffer): KrlSpec {
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) throw bad('not an OpenSSH KRL (bad magic)');
  const r = new SshReader(buf.subarray(MAGIC.length), { what: 'KRL' });
  const format = r.uint32();
  if (format !== FORMAT_VERSION) throw bad(`unsupported KRL format version ${format}`);
  const version = r.uint64();
  const generatedAt = r.uint64();
  r.uint64(); // flags: none are defined
  r.string('reserved');
  const comment = r.text('comment');
  const certificates: KrlCertificateSection[] = [];
  const revokedKeys: Buffer[] = [];
  const revokedKeySha1: Buffer[] = [];
  const revokedKeySha256: Buffer[] = [];
  const budget = { serials: 0 };
  while (!r.atEnd()) {
    const type = r.uint8();
    const body = r.string('section');
    switch (type) {
      case SECTION_CERTIFICATES:
        certificates.push(parseCertSection(body, budget));
        break;
      case SECTION_EXPLICIT_KEY:
        revokedKeys.push(...readBlobList(body, undefined, 'explicit key section'));
        break;
      case SECTION_FINGERPRINT_SHA1:
        revokedKeySha1.push(...readBlobList(body, 20, 'SHA1 section'));
        break;
      case SECTION_FINGERPRINT_SHA256:
        revokedKeySha256.push(...readBlobList(body, 32, 'SHA256 section'));
        break;
      case SECTION_EXTENSION:
        readExtension(body, 'extension section');
        break;
      case SECTION_SIGNATURE:
        throw bad('signed KRLs are not supported (OpenSSH 9.4 and later refuse them too)');
      default:
        throw bad(`KRL has an unsupported section type ${type}`);
    }
  }
  const spec: KrlSpec = {
    version,
    generatedAt,
    comment,
    certificates: mergeSections(certificates),
    revokedKeySha256: uniqueSortedBlobs(revokedKeySha256),
  };
  if (revokedKeys.length > 0) spec.revokedKeys = uniqueSortedBlobs(revokedKeys);
  if (revokedKeySha1.length > 0) spec.revokedKeySha1 = uniqueSortedBlobs(revokedKeySha1);
  return spec;
}

function readBlobList(body: Buffer, length: number | undefined, what: string): Buffer[] {
  const r = new SshReader(body, { what: `KRL ${what}` });
  const out: Buffer[] = [];
  while (!r.atEnd()) {
    const b = Buffer.from(r.string('entry'));
    if (length !== undefined && b.length !== length) throw r.fail(`entry must be ${length} bytes, got ${b.length}`);
    out.push(b);
  }
  return out;
}

function parseCertSection(body: Buffer, budget: { serials: number }): KrlCertificateSection {
  const r = new SshReader(body, { what: 'KRL certificate section' });
  const caBlob = r.string('CA key');
  r.string('reserved');
  if (caBlob.length > 0) {
    const t = blobType(Buffer.from(caBlob));
    if (t === undefined) throw r.fail('CA key is malformed');
    if (t.endsWith(CERT_SUFFIX)) throw r.fail('CA key must be a plain key, not a certificate');
  }
  const section: KrlCertificateSection = {
    caKey: caBlob.length === 0 ? null : Buffer.from(caBlob),
    serials: [],
    keyIds: [],
    serialRanges: [],
  };
  const addSerial = (s: bigint): void => {
    if (s === 0n) throw r.fail('serial 0 cannot be revoked');
    if (++budget.serials > MAX_SERIALS) throw r.fail(`more than ${MAX_SERIALS} revoked serials`);
    section.serials.push(s);
  };
  while (!r.atEnd()) {
    const type = r.uint8();
    const sub = new SshReader(r.string('subsection'), { what: 'KRL certificate subsection' });
    switch (type) {
      case CERT_SERIAL_LIST:
        while (!sub.atEnd()) addSerial(sub.uint64());
        break;
      case CERT_SERIAL_RANGE: {
        const min = sub.uint64();
        const max = sub.uint64();
        if (min === 0n || min > max) throw sub.fail(`invalid serial range ${min}-${max}`);
        section.serialRanges!.push({ min, max });
        break;
      }
      case CERT_SERIAL_BITMAP: {
        const offset = sub.uint64();
        const bitmap = sub.mpint('bitmap', MAX_BITMAP_BYTES);
        const nbits = bitmap.length * 8;
        for (let i = 0; i < nbits; i++) {
          const byte = bitmap[bitmap.length - 1 - (i >> 3)]!;
          if ((byte & (1 << (i & 7))) === 0) continue;
          const serial = offset + BigInt(i);
          if (serial > UINT64_MAX) throw sub.fail('serial bitmap runs past 2^64');
          addSerial(serial);
        }
        break;
      }
      case CERT_KEY_ID:
        while (!sub.atEnd()) section.keyIds.push(sub.text('key ID'));
        break;
      case CERT_EXTENSION:
        readExtension(sub.raw(sub.remaining), 'certificate extension');
        break;
      default:
        throw r.fail(`unsupported subsection type ${type}`);
    }
    sub.expectEnd('the subsection');
  }
  return section;
}

/** Whether a serial is revoked by a section (serial 0 never is: it means "no serial"). */
function serialRevoked(section: KrlCertificateSection, serial: bigint): boolean {
  if (serial === 0n) return false;
  if (section.serials.includes(serial)) return true;
  return (section.serialRanges ?? []).some((r) => r.min <= serial && serial <= r.max);
}

/** Whether a plain key blob is revoked by hash or explicitly. */
function keyRevoked(krl: KrlSpec, blob: Buffer): boolean {
  const sha256 = sha256Digest(blob);
  if (krl.revokedKeySha256.some((h) => h.equals(sha256))) return true;
  if ((krl.revokedKeys ?? []).some((k) => k.equals(blob))) return true;
  if (krl.revokedKeySha1 !== undefined && krl.revokedKeySha1.length > 0) {
    const sha1 = createHash('sha1').update(blob).digest();
    if (krl.revokedKeySha1.some((h) => h.equals(sha1))) return true;
  }
  return false;
}

/**
 * Whether a certificate or a plain key is revoked by the KRL, as ssh_krl_check_key decides: the
 * certified key and the CA key by hash or blob, then the certificate by key ID and serial in the
 * sections for its CA and for any CA.
 */
export function isRevokedInKrl(krl: KrlSpec, subject: { cert?: Certificate; keyBlob?: Buffer }): boolean {
  if (subject.keyBlob !== undefined && keyRevoked(krl, subject.keyBlob)) return true;
  const cert = subject.cert;
  if (cert === undefined) return false;
  if (keyRevoked(krl, cert.publicKey.blob) || keyRevoked(krl, cert.signatureKey.blob)) return true;
  for (const section of krl.certificates) {
    if (section.caKey !== null && !section.caKey.equals(cert.signatureKey.blob)) continue;
    if (section.keyIds.includes(cert.keyId)) return true;
    if (serialRevoked(section, cert.serial)) return true;
  }
  return false;
}
