/**
 * Output bytes as they are made: text is encoded into 64 kB buffers (joined into ~16 k
 * characters first, for fewer encodes), and a listing's rows can be written into the buffer
 * directly, digit by digit, with no string per row. Full buffers go to `send`, which may ask
 * the writer to wait (stdout's drain); a row writer yields to its driver only when
 * {@link ByteSink.blocked}, and the driver then waits on {@link ByteSink.wait}.
 */

/** Output is handed on in buffers of this many bytes: big enough for few writes, small enough to stay out of V8's large-object space. */
const BUFFER_BYTES = 64 * 1024;
/** Chunks are joined into a string of about this many characters before it is encoded (fewer, bigger encodes). */
const JOIN_CHARS = 16 * 1024;

const HEX_DIGITS = Uint8Array.from("0123456789abcdef", (c) => c.charCodeAt(0));

/** Where full buffers (or a string too big for one) go: undefined when taken, a promise when the writer must wait. */
export type Send = (chunk: Uint8Array | string) => Promise<void> | undefined;

/** See the file comment. Byte writers (`ascii`, `uint`, ...) need the room asked for with {@link room} first. */
export class ByteSink {
  /** The buffer being filled and how much of it is. */
  buf: Buffer;
  used = 0;
  private pending = "";
  private waiting: Promise<void> | undefined;

  /**
   * `taken` says, right after a chunk was sent, whether the receiver already let go of it
   * (stdout: nothing left in its queue); only then is the buffer filled again. Default: never.
   */
  constructor(
    private readonly send: Send,
    private readonly taken: () => boolean = () => false,
  ) {
    this.buf = Buffer.allocUnsafe(BUFFER_BYTES);
  }

  /** Whether the output asked the writer to wait: a row writer yields to its driver only then. */
  get blocked(): boolean {
    return this.waiting !== undefined;
  }

  /** What the writer must wait for before writing more, once; undefined when nothing. */
  wait(): Promise<void> | undefined {
    const w = this.waiting;
    this.waiting = undefined;
    return w;
  }

  /** Any text (UTF-8). */
  text(chunk: string): void {
    this.pending += chunk;
    if (this.pending.length >= JOIN_CHARS) this.encode();
  }

  /** Makes room for `n` bytes in the buffer (after the text so far). */
  room(n: number): void {
    if (this.pending !== "") this.encode();
    if (this.used + n > this.buf.length) {
      this.flush();
      if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
    }
  }

  /** A string of ASCII characters, as its bytes. */
  ascii(s: string): void {
    const buf = this.buf;
    let at = this.used;
    for (let k = 0; k < s.length; k++) buf[at++] = s.charCodeAt(k);
    this.used = at;
  }

  /** Bytes as they are. */
  bytes(b: Uint8Array): void {
    this.buf.set(b, this.used);
    this.used += b.length;
  }

  /** A whole number from 0 to 2^53 in decimal (at most 16 bytes). */
  uint(n: number): void {
    let digits = 1;
    for (let p = 10; p <= n; p *= 10) digits++;
    const buf = this.buf;
    let at = this.used + digits;
    this.used = at;
    do {
      const q = Math.floor(n / 10);
      buf[--at] = 48 + (n - 10 * q);
      n = q;
    } while (n > 0);
  }

  /** An IPv4 address (an unsigned 32-bit number) as a dotted quad (at most 15 bytes). */
  ipv4(ip: number): void {
    this.octet(ip >>> 24);
    this.buf[this.used++] = 46;
    this.octet((ip >>> 16) & 255);
    this.buf[this.used++] = 46;
    this.octet((ip >>> 8) & 255);
    this.buf[this.used++] = 46;
    this.octet(ip & 255);
  }

  /** A number from 0 to 255 in decimal. */
  private octet(n: number): void {
    const buf = this.buf;
    let at = this.used;
    if (n >= 100) {
      buf[at++] = 48 + ((n / 100) | 0);
      buf[at++] = 48 + (((n / 10) | 0) % 10);
    } else if (n >= 10) buf[at++] = 48 + ((n / 10) | 0);
    buf[at++] = 48 + (n % 10);
    this.used = at;
  }

  /** A byte as two lower-case hex digits. */
  hex2(b: number): void {
    this.buf[this.used++] = HEX_DIGITS[b >>> 4]!;
    this.buf[this.used++] = HEX_DIGITS[b & 15]!;
  }

  /** JSON.stringify of a number, null for null and undefined (jsonNumber's text; at most 24 bytes). */
  jsonNumber(n: number | null | undefined): void {
    if (n === null || n === undefined || !Number.isFinite(n)) this.ascii("null");
    else if (Number.isSafeInteger(n) && n >= 0) this.uint(n);
    else this.ascii(String(n));
  }

  /** JSON.stringify(s) of any string (makes its own room). */
  jsonString(s: string): void {
    this.room(s.length + 2);
    const buf = this.buf;
    const start = this.used;
    let at = start;
    buf[at++] = 34;
    for (let k = 0; k < s.length; k++) {
      const c = s.charCodeAt(k);
      // Outside plain ASCII, or a character JSON escapes: the whole string the slow way.
      if (c < 32 || c > 126 || c === 34 || c === 92) {
        this.used = start;
        this.text(JSON.stringify(s));
        return;
      }
      buf[at++] = c;
    }
    buf[at++] = 34;
    this.used = at;
  }

  /** Hands on everything written so far. */
  end(): void {
    this.encode();
    this.flush();
  }

  /** Encodes the pending text into the buffer (a UTF-16 code unit is at most 3 bytes of UTF-8). */
  private encode(): void {
    const text = this.pending;
    if (text === "") return;
    this.pending = "";
    if (this.used + 3 * text.length <= this.buf.length) {
      this.used += this.buf.write(text, this.used, "utf8");
      return;
    }
    this.flush();
    if (3 * text.length > this.buf.length) this.hand(text);
    else this.used = this.buf.write(text, 0, "utf8");
  }

  private flush(): void {
    if (this.used === 0) return;
    const full = this.buf.subarray(0, this.used);
    this.used = 0;
    this.hand(full);
    // A stream that still holds the bytes (a pipe's queue) may keep the buffer until they are
    // written: it is not reused then. One that took them at once (a file, /dev/null, a pipe
    // with room) holds nothing of it, and refilling it spares 250 dead 64 kB buffers a listing.
    if (!this.taken()) this.buf = Buffer.allocUnsafe(BUFFER_BYTES);
  }

  private hand(chunk: Uint8Array | string): void {
    const w = this.send(chunk);
    if (w !== undefined) {
      const before = this.waiting;
      this.waiting = before === undefined ? w : before.then(() => w);
    }
  }
}

/** Writes what `write` writes into a sink and returns it as text (tests, `render`). */
export function sinkText(write: (out: ByteSink) => void): string {
  const parts: Buffer[] = [];
  const out = new ByteSink((chunk) => {
    parts.push(typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk));
    return undefined;
  });
  write(out);
  out.end();
  return Buffer.concat(parts).toString("utf8");
}
