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

/**
 * Appends SSH wire values to one growing buffer; out-of-range values are a bad_request AirlockError.
 * Values are written in place (no buffer per value and no concatenation at the end): encoders on the
 * issuance path write a certificate with a few dozen values, and a Buffer each cost more than the bytes.
 */
export class SshWriter {
  #buf: Buffer;
  #length = 0;

  /** `capacity`: the bytes to reserve up front; a writer that knows its final size never copies. */
  constructor(capacity = 64) {
    this.#buf = Buffer.allocUnsafe(Math.max(capacity, 1));
  }

  /** Makes room for `n` more bytes and returns the offset to write them at (read #buf after calling it: it may be replaced). */
  #reserve(n: number): number {
    const at = this.#length;
    if (at + n > this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, at + n));
      this.#buf.copy(grown, 0, 0, at);
      this.#buf = grown;
    }
    this.#length = at + n;
    return at;
  }

  /** byte */
  uint8(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new AirlockError('bad_request', `uint8 out of range: ${v}`);
    const at = this.#reserve(1);
    this.#buf[at] = v;
    return this;
  }

  /** boolean: one byte, 0 or 1. */
  boolean(v: boolean): this {
    return this.uint8(v ? 1 : 0);
  }

  /** uint32, big-endian. */
  uint32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > UINT32_MAX) throw new AirlockError('bad_request', `uint32 out of range: ${v}`);
    const at = this.#reserve(4);
    this.#buf.writeUInt32BE(v, at);
    return this;
  }

  /** uint64, big-endian. */
  uint64(v: bigint): this {
    if (v < 0n || v > UINT64_MAX) throw new AirlockError('bad_request', `uint64 out of range: ${v}`);
    const at = this.#reserve(8);
    this.#buf.writeBigUInt64BE(v, at);
    return this;
  }

  /** string: uint32 length then the bytes (a JS string is written as UTF-8). */
  string(v: Buffer | Uint8Array | string): this {
    if (typeof v !== 'string') {
      this.uint32(v.length);
      return this.raw(v);
    }
    // A UTF-16 code unit takes at most 3 bytes in UTF-8: reserve that, write, give back what is unused.
    const at = this.#reserve(4 + 3 * v.length);
    const n = this.#buf.write(v, at + 4, 'utf8');
    this.#buf.writeUInt32BE(n, at);
    this.#length = at + 4 + n;
    return this;
  }

  /** mpint from an unsigned big-endian magnitude: minimal, with a 0 byte when the top bit is set. */
  mpint(magnitude: Buffer | Uint8Array): this {
    let i = 0;
    while (i < magnitude.length && magnitude[i] === 0) i++;
    const m = magnitude.subarray(i);
    if (m.length === 0) return this.uint32(0);
    const needsPad = (m[0]! & 0x80) !== 0;
    this.uint32(m.length + (needsPad ? 1 : 0));
    if (needsPad) this.uint8(0);
    return this.raw(m);
  }

  /** name-list: comma-separated names in one string. */
  nameList(names: readonly string[]): this {
    for (const n of names) {
      if (n.length === 0 || n.includes(',')) throw new AirlockError('bad_request', `invalid name in name-list: ${JSON.stringify(n)}`);
    }
    return this.string(names.join(','));
  }

  /**
   * Starts a string whose length is not known yet: reserves its length field and returns a mark to
   * pass to closeString once its bytes are written (nested encodings need no buffer of their own).
   */
  openString(): number {
    return this.#reserve(4);
  }

  /** Ends the string started at `mark`: writes its length, the bytes written since. */
  closeString(mark: number): this {
    this.#buf.writeUInt32BE(this.#length - mark - 4, mark);
    return this;
  }

  /** Bytes written so far (the offset of the next write). */
  get length(): number {
    return this.#length;
  }

  /** Reserves `n` bytes and returns them for the caller to fill at once (they hold old memory until then). */
  space(n: number): Buffer {
    const at = this.#reserve(n);
    return this.#buf.subarray(at, at + n);
  }

  /** Bytes as they are, without a length. */
  raw(v: Buffer | Uint8Array): this {
    const at = this.#reserve(v.length);
    this.#buf.set(v, at);
    return this;
  }

  /** The bytes written so far: a view of the writer's buffer, which later writes only append to. */
  toBuffer(): Buffer {
    return this.#buf.subarray(0, this.#length);
  }
}

/** Options of a reader: the error code its failures carry and what is being read (for messages). */
export interface SshReaderOptions {
  code?: WireErrorCode;
  /** What is being read; a function is called only when a message needs it (parsers make many readers). */
  what?: string | (() => string);
}

/** Reads SSH wire values from a buffer, refusing anything that does not fit. */
export class SshReader {
  private readonly buf: Buffer;
  private pos = 0;
  readonly code: WireErrorCode;
  readonly #what: string | (() => string);

  constructor(buf: Buffer | Uint8Array, options: SshReaderOptions = {}) {
    this.buf = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    this.code = options.code ?? 'bad_request';
    this.#what = options.what ?? 'SSH data';
  }

  /** What is being read (for messages). */
  get what(): string {
    return typeof this.#what === 'string' ? this.#what : this.#what();
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

  /** Moves past `n` bytes that are known to be there and returns where they start. */
  private advance(n: number, what: string): number {
    if (n > this.remaining) throw this.fail(`truncated ${what} (needs ${n} byte(s), ${this.remaining} left)`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  /** byte */
  uint8(): number {
    return this.buf[this.advance(1, 'byte')]!;
  }

  /** boolean (RFC 4251: any non-zero byte is true). */
  boolean(): boolean {
    return this.buf[this.advance(1, 'boolean')]! !== 0;
  }

  /** uint32 */
  uint32(): number {
    return this.buf.readUInt32BE(this.advance(4, 'uint32'));
  }

  /** uint64 */
  uint64(): bigint {
    return this.buf.readBigUInt64BE(this.advance(8, 'uint64'));
  }

  /** The length of a string, checked against what is left. */
  private stringLength(what: string): number {
    const len = this.uint32();
    if (len > this.remaining) throw this.fail(`${what} length ${len} exceeds the ${this.remaining} byte(s) left`);
    return len;
  }

  /** string as bytes (a view into the input; copy it to keep it). */
  string(what = 'string'): Buffer {
    return this.take(this.stringLength(what), what);
  }

  /** string decoded as UTF-8; invalid UTF-8 is refused rather than replaced, so no two inputs read alike. */
  text(what = 'string'): string {
    const start = this.advance(this.stringLength(what), what);
    const end = this.pos;
    const b = this.buf;
    // Names, IDs and principals are nearly always ASCII, which needs no decoder (and cannot be invalid).
    let i = start;
    while (i < end && b[i]! < 0x80) i++;
    if (i === end) return b.toString('latin1', start, end);
    try {
      return utf8.decode(b.subarray(start, end));
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
