/**
 * Protobuf's wire format, the little podnet needs of it: a reader (varints, 64-bit varints,
 * skipping unknown fields by wire type) for the hand decoders of etcd's replies, and a writer
 * (varints, int64 as two's complement, length-delimited fields) for the h2 transport's requests.
 */

/** Wire types (protobuf encoding, "Message Structure"). */
export const VARINT = 0;
export const LEN = 2;

/** A cursor over protobuf wire bytes: varints, 64-bit varints, skipping by wire type. */
export class WireReader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    private readonly what: string,
  ) {}

  /** An unsigned varint; exact below 2^53, which every revision, version and length is. */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw new Error(`truncated ${this.what}`);
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
  }

  /** An int64 varint as a bigint (two's complement: -1 is ten bytes). */
  int64(): bigint {
    const start = this.pos;
    const n = this.varint();
    if (this.pos - start < 8) return BigInt(n);
    let big = 0n;
    for (let i = this.pos - 1; i >= start; i--) big = (big << 7n) | BigInt((this.buf[i] as number) & 0x7f);
    return BigInt.asIntN(64, big);
  }

  /**
   * An int64 varint as a decimal string, what etcd lease ids are passed around as (read as
   * two 32-bit halves, see {@link readInt64Halves}).
   */
  int64Decimal(): string {
    this.pos = readInt64Halves(this.buf, this.pos, HALVES, this.what);
    return int64Text(HALVES[0]!, HALVES[1]!);
  }

  /** A length-delimited field's bytes (a view into the buffer). */
  bytes(): Buffer {
    const len = this.varint();
    const start = this.pos;
    this.pos += len;
    if (this.pos > this.buf.length) throw new Error(`truncated ${this.what}`);
    return this.buf.subarray(start, this.pos);
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) {
      // Not `this.pos += this.varint()`: that adds the length to the position before the length.
      const len = this.varint();
      this.pos += len;
    } else if (wire === 5) this.pos += 4;
    else throw new Error(`unexpected wire type ${wire} in a ${this.what}`);
  }

  /** Throws unless the last field ended exactly at the end of the buffer. */
  done(): void {
    if (this.pos !== this.buf.length) throw new Error(`truncated ${this.what}`);
  }
}

const NO_BYTES = Buffer.alloc(0);

/**
 * A reader over a message held as consecutive pieces (the DATA chunks it came in, never
 * joined): tags and varints across the pieces' boundaries, and each length-delimited field by
 * {@link span} as a view of the piece holding it whole, or a copy of its bytes (a buffer of its
 * own, never reused) when it straddles two or more. So a reply of megabytes is read without a
 * second copy of it.
 */
export class PiecesReader {
  private i = 0;
  /** The piece being read and the offset in it ({@link stepInPiece} moves it for a caller that read there itself). */
  piece: Buffer;
  at = 0;
  /** Bytes not yet read, over every piece. */
  private left: number;
  /** The buffer the last {@link span} is in, and where in it the span starts. */
  spanBuf: Buffer = NO_BYTES;
  spanStart = 0;

  constructor(
    private readonly pieces: readonly Buffer[],
    private readonly what: string,
  ) {
    this.piece = pieces[0] ?? NO_BYTES;
    let total = 0;
    for (const p of pieces) total += p.length;
    this.left = total;
  }

  /** Whether every byte has been read. */
  get done(): boolean {
    return this.left === 0;
  }

  /** Moves to the next piece with a byte left (the caller knows one is: `left` > 0). */
  private nextPiece(): void {
    while (this.at >= this.piece.length) {
      this.piece = this.pieces[++this.i] as Buffer;
      this.at = 0;
    }
  }

  private truncated(): Error {
    return new Error(`truncated ${this.what}`);
  }

  /** One byte. */
  byte(): number {
    if (this.left === 0) throw this.truncated();
    if (this.at >= this.piece.length) this.nextPiece();
    this.left--;
    return this.piece[this.at++] as number;
  }

  /** An unsigned varint, as {@link WireReader.varint} reads it. */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
  }

  /** The next `len` bytes as {@link spanBuf} from {@link spanStart}: a view when one piece holds them, else a copy. */
  span(len: number): void {
    if (len > this.left) throw this.truncated();
    if (len === 0) {
      this.spanBuf = NO_BYTES;
      this.spanStart = 0;
      return;
    }
    if (this.at >= this.piece.length) this.nextPiece();
    this.left -= len;
    if (this.piece.length - this.at >= len) {
      this.spanBuf = this.piece;
      this.spanStart = this.at;
      this.at += len;
      return;
    }
    const out = Buffer.allocUnsafe(len);
    for (let filled = 0; filled < len; ) {
      if (this.at >= this.piece.length) this.nextPiece();
      const n = Math.min(len - filled, this.piece.length - this.at);
      this.piece.copy(out, filled, this.at, this.at + n);
      filled += n;
      this.at += n;
    }
    this.spanBuf = out;
    this.spanStart = 0;
  }

  /** Moves to `to` in the current piece, where a caller read up to with a reader of its own. */
  stepInPiece(to: number): void {
    this.left -= to - this.at;
    this.at = to;
  }

  /** Steps over `n` bytes. */
  private advance(n: number): void {
    if (n > this.left) throw this.truncated();
    this.left -= n;
    while (n > 0) {
      if (this.at >= this.piece.length) this.nextPiece();
      const k = Math.min(n, this.piece.length - this.at);
      this.at += k;
      n -= k;
    }
  }

  /** Skips a field of wire type `wire`, as {@link WireReader.skip} does. */
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.advance(8);
    else if (wire === 2) this.advance(this.varint());
    else if (wire === 5) this.advance(4);
    else throw new Error(`unexpected wire type ${wire} in a ${this.what}`);
  }
}

const HALVES = new Uint32Array(2);

/**
 * Reads the int64 varint at `buf[pos]` into `out` as its low and high 32 bits (two's
 * complement); returns the position after it. No allocation: a bigint per 7-bit group cost a
 * view ~1 µs per key, and a lease table keeps ids as these halves.
 */
export function readInt64Halves(
  buf: Uint8Array,
  pos: number,
  out: Uint32Array | Int32Array,
  what: string,
): number {
  let lo = 0;
  let hi = 0;
  let i = 0;
  for (; i < 10; i++) {
    const b = buf[pos++];
    if (b === undefined) throw new Error(`truncated ${what}`);
    const bits = b & 0x7f;
    if (i < 4) lo |= bits << (7 * i);
    else if (i === 4) {
      lo |= (bits & 0x0f) << 28;
      hi = bits >> 4;
    } else hi |= bits << (7 * i - 32);
    if (b < 0x80) break;
  }
  if (i === 10) throw new Error(`malformed varint in a ${what}`);
  out[0] = lo;
  out[1] = hi;
  return pos;
}

/** The decimal text of an int64 given as its two 32-bit halves: values below 2^53 need no bigint. */
export function int64Text(lo: number, hi: number): string {
  lo >>>= 0;
  hi >>>= 0;
  if (hi < 0x200000) return String(hi * 0x100000000 + lo);
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)).toString();
}

/** An int64 as etcd ids come: a number, a decimal string, or a bigint. */
export type Int64 = number | string | bigint;

/**
 * Writes a protobuf message field by field. Fields equal to proto3's default (0, false, empty)
 * are left out, as protobuf's encoders do, unless `always` says they carry meaning (a oneof).
 */
export class WireWriter {
  private buf = Buffer.allocUnsafe(64);
  private pos = 0;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private raw(n: number): void {
    this.room(10);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  private rawBig(v: bigint): void {
    this.room(10);
    let u = BigInt.asUintN(64, v);
    while (u >= 0x80n) {
      this.buf[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.pos++] = Number(u);
  }

  /** A varint field (uint64/int64/enum/bool) from a non-negative safe integer. */
  uint(field: number, n: number, always = false): this {
    if (n === 0 && !always) return this;
    if (!Number.isSafeInteger(n) || n < 0) return this.int64(field, BigInt(n), always);
    this.raw(field * 8);
    this.raw(n);
    return this;
  }

  /** An int64 field; negative values are ten bytes of two's complement, as protobuf writes them. */
  int64(field: number, v: Int64, always = false): this {
    const big = typeof v === "bigint" ? v : BigInt(v);
    if (big === 0n && !always) return this;
    this.raw(field * 8);
    if (big >= 0n && big <= BigInt(Number.MAX_SAFE_INTEGER)) this.raw(Number(big));
    else this.rawBig(big);
    return this;
  }

  /** A bool field. */
  bool(field: number, b: boolean | undefined): this {
    return b === true ? this.uint(field, 1) : this;
  }

  /** A bytes or string field. */
  bytes(field: number, b: Buffer | string | undefined, always = false): this {
    if (b === undefined || (b.length === 0 && !always)) return this;
    const len = typeof b === "string" ? Buffer.byteLength(b) : b.length;
    this.raw(field * 8 + LEN);
    this.raw(len);
    this.room(len);
    if (typeof b === "string") this.buf.write(b, this.pos);
    else b.copy(this.buf, this.pos);
    this.pos += len;
    return this;
  }

  /** An embedded message field (always written: an empty message is still a set field). */
  message(field: number, m: WireWriter | Buffer): this {
    return this.bytes(field, m instanceof WireWriter ? m.finish() : m, true);
  }

  /** The message's bytes. */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}
