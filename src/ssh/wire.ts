/**
 * SSH wire encoding (RFC 4251 §5): a writer and a bounds-checked reader. Every read that would run
 * past the end, every length that claims more bytes than remain, and every non-canonical mpint is an
 * AirlockError with the code the caller chose, never a RangeError: the parsers above this one see
 * untrusted bytes from the network and from users.
 */
import { AirlockError, type ErrorCode } from '../errors.ts';

/** The error codes a wire parser may raise. */
export type WireErrorCode = Extract<ErrorCode, 'invalid_key' | 'invalid_certificate' | 'bad_request'>;

const UINT32_MAX = 0xffffffff;
const UINT64_MAX = 0xffffffffffffffffn;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Appends SSH wire values to a growing buffer; out-of-range values are a bad_request AirlockError. */
export class SshWriter {
  private readonly parts: Buffer[] = [];
  private length = 0;

  private push(b: Buffer): this {
    this.parts.push(b);
    this.length += b.length;
    return this;
  }

  /** byte */
  uint8(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new AirlockError('bad_request', `uint8 out of range: ${v}`);
    return this.push(Buffer.from([v]));
  }

  /** boolean: one byte, 0 or 1. */
  boolean(v: boolean): this {
    return this.uint8(v ? 1 : 0);
  }

  /** uint32, big-endian. */
  uint32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > UINT32_MAX) throw new AirlockError('bad_request', `uint32 out of range: ${v}`);
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    return this.push(b);
  }

  /** uint64, big-endian. */
  uint64(v: bigint): this {
    if (v < 0n || v > UINT64_MAX) throw new AirlockError('bad_request', `uint64 out of range: ${v}`);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    return this.push(b);
  }

  /** string: uint32 length then the bytes (a JS string is written as UTF-8). */
  string(v: Buffer | Uint8Array | string): this {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v);
    this.uint32(b.length);
    return this.push(b);
  }

  /** mpint from an unsigned big-endian magnitude: minimal, with a 0 byte when the top bit is set. */
  mpint(magnitude: Buffer | Uint8Array): this {
    let i = 0;
    while (i < magnitude.length && magnitude[i] === 0) i++;
    const m = Buffer.from(magnitude.subarray(i));
    if (m.length === 0) return this.uint32(0);
    const needsPad = (m[0]! & 0x80) !== 0;
    this.uint32(m.length + (needsPad ? 1 : 0));
    if (needsPad) this.push(Buffer.from([0]));
    return this.push(m);
  }

  /** name-list: comma-separated names in one string. */
  nameList(names: readonly string[]): this {
    for (const n of names) {
      if (n.length === 0 || n.includes(',')) throw new AirlockError('bad_request', `invalid name in name-list: ${JSON.stringify(n)}`);
    }
    return this.string(names.join(','));
  }

  /** Bytes as they are, without a length. */
  raw(v: Buffer | Uint8Array): this {
    return this.push(Buffer.from(v));
  }

  /** The bytes written so far. */
  toBuffer(): Buffer {
    return Buffer.concat(this.parts, this.length);
  }
}

/** Options of a reader: the error code its failures carry and what is being read (for messages). */
export interface SshReaderOptions {
  code?: WireErrorCode;
  what?: string;
}

/** Reads SSH wire values from a buffer, refusing anything that does not fit. */
export class SshReader {
  private readonly buf: Buffer;
  private pos = 0;
  readonly code: WireErrorCode;
  readonly what: string;

  constructor(buf: Buffer | Uint8Array, options: SshReaderOptions = {}) {
    this.buf = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    this.code = options.code ?? 'bad_request';
    this.what = options.what ?? 'SSH data';
  }

  /** An AirlockError with this reader's code, naming what was being read. */
  fail(message: string): AirlockError {
    return new AirlockError(this.code, `${this.what}: ${message}`);
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** Bytes read so far (the offset of the next read). */
  get offset(): number {
    return this.pos;
  }

  /** Whether every byte has been read. */
  atEnd(): boolean {
    return this.pos === this.buf.length;
  }

  /** Refuses trailing bytes after `what`. */
  expectEnd(what: string): void {
    if (!this.atEnd()) throw this.fail(`${this.remaining} unexpected trailing byte(s) after ${what}`);
  }

  private take(n: number, what: string): Buffer {
    if (n > this.remaining) throw this.fail(`truncated ${what} (needs ${n} byte(s), ${this.remaining} left)`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** byte */
  uint8(): number {
    return this.take(1, 'byte')[0]!;
  }

  /** boolean (RFC 4251: any non-zero byte is true). */
  boolean(): boolean {
    return this.take(1, 'boolean')[0]! !== 0;
  }

  /** uint32 */
  uint32(): number {
    return this.take(4, 'uint32').readUInt32BE(0);
  }

  /** uint64 */
  uint64(): bigint {
    return this.take(8, 'uint64').readBigUInt64BE(0);
  }

  /** string as bytes (a view into the input; copy it to keep it). */
  string(what = 'string'): Buffer {
    const len = this.uint32();
    if (len > this.remaining) throw this.fail(`${what} length ${len} exceeds the ${this.remaining} byte(s) left`);
    return this.take(len, what);
  }

  /** string decoded as UTF-8; invalid UTF-8 is refused rather than replaced, so no two inputs read alike. */
  text(what = 'string'): string {
    const b = this.string(what);
    try {
      return utf8.decode(b);
    } catch {
      throw this.fail(`${what} is not valid UTF-8`);
    }
  }

  /**
   * mpint as its unsigned big-endian magnitude. Negative values and non-minimal encodings are refused
   * (OpenSSH's sshbuf_get_bignum2 does the same), so every number has exactly one encoding.
   */
  mpint(what = 'mpint', maxBytes = 16385): Buffer {
    const b = this.string(what);
    if (b.length === 0) return Buffer.alloc(0);
    if (b.length > maxBytes) throw this.fail(`${what} is too large (${b.length} bytes)`);
    if ((b[0]! & 0x80) !== 0) throw this.fail(`${what} is negative`);
    if (b[0] === 0) {
      if (b.length === 1 || (b[1]! & 0x80) === 0) throw this.fail(`${what} has a superfluous leading zero`);
      return b.subarray(1);
    }
    return b;
  }

  /** name-list: comma-separated, no empty names. */
  nameList(what = 'name-list'): string[] {
    const s = this.text(what);
    if (s === '') return [];
    const names = s.split(',');
    if (names.some((n) => n === '')) throw this.fail(`${what} contains an empty name`);
    return names;
  }

  /** Exactly n bytes without a length prefix. */
  raw(n: number, what = 'bytes'): Buffer {
    if (!Number.isInteger(n) || n < 0) throw this.fail(`invalid length for ${what}`);
    return this.take(n, what);
  }
}
