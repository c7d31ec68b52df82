/**
 * The lease table's bulk reader: a whole RangeResponse read into columns by WebAssembly
 * (assembly/lease-scan.ts, compiled into lease-scan-wasm.ts) instead of one JavaScript visit
 * per key. It reads what LeaseTableBuilder's per-key path reads from flannel's own form
 * (lease-bytes.ts) and hands back everything else: a KeyValue in any other form goes to the
 * per-key path, one at a time, and protobuf it does not expect goes to the JavaScript reader
 * from there on, so a stricter answer here only costs speed; lease-scan.test.ts holds the two
 * paths to the same tables. Measured at 65,000 leases: the JavaScript reader spends 120–140 ms,
 * most of it in code V8 has not optimised yet (each process reads one listing); this reads
 * them in 15–25 ms from the first key (README, "Where the time goes").
 */
import { MAX_VNI } from "./backend-data.js";
import type { ReplyBytes } from "./etcd/reply-decoders.js";
import { LEASE_SCAN_WASM } from "./lease-scan-wasm.js";

// What podnet uses of WebAssembly: @types/node 20 has no declarations of it (lib.dom does).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmGlobal {
  readonly value: number;
}
interface WasmModule {
  readonly __wasmModule?: never;
}
declare const WebAssembly: {
  readonly Module: new (bytes: Uint8Array) => WasmModule;
  readonly Instance: new (module: WasmModule, imports: object) => { readonly exports: unknown };
};

/** The module's exports (assembly/lease-scan.ts). */
interface ScanExports {
  readonly memory: WasmMemory;
  base(): number;
  init(dir: number, len: number, vniMax: number): void;
  begin(): void;
  radixOrder(ip4: number, len4: number, n: number, a: number, b: number, counts: number): number;
  scan(pos: number, end: number, rows: number, cap: number, withPlaces: boolean, last: boolean): number;
  readonly outRows: WasmGlobal;
  readonly outPos: WasmGlobal;
  readonly fbStart: WasmGlobal;
  readonly fbStop: WasmGlobal;
  readonly outRevision: WasmGlobal;
  readonly outMore: WasmGlobal;
  readonly lastKeyAt: WasmGlobal;
  readonly lastKeyLen: WasmGlobal;
}

/** What a reply said besides its keys, as RangeWalk says it. */
export interface ScanWalk {
  readonly count: number;
  readonly revision: number;
  readonly more: boolean;
  /** The last key's bytes (a copy), when there was one: the next page starts after it. */
  readonly lastKey?: Buffer;
}

// What scan() ended on.
const DONE = 0;
const FALLBACK = 1;
const BAIL = 2;
const FULL = 3;
const NEED_MORE = 4;

/**
 * The window a reply goes through the module's memory in (doubled for a larger field): with
 * its rows' columns ~0.7 MB of memory. 1 MiB (~3 MB with its columns) read no faster (65,000
 * leases, 9 alternating pairs: `ipam show` peak RSS 93.5 against 94.6 MB on Node 24).
 */
const WINDOW = 1 << 18;

/** Bytes of columns a row takes (see assembly/lease-scan.ts's layout). */
const ROW_BYTES = 8 + 8 + 4 * 5 + 2 + 1 + 1 + 6 + 16;
/** The longest lease directory the module takes (a longer one is read by the per-key path). */
const MAX_DIR = 4096;
/** No KeyValue in flannel's form is shorter (a name of 9 bytes and a value of 40, with framing). */
const MIN_ROW_WIRE = 48;

/** One scan() call's rows, as views of the module's memory: valid until the next call. */
export interface ScanColumns {
  readonly n: number;
  readonly createRevision: Float64Array;
  readonly modRevision: Float64Array;
  readonly ip4: Uint32Array;
  readonly publicIP: Uint32Array;
  readonly vni: Int32Array;
  /** The etcd lease id's halves (0 and 0: none). */
  readonly leaseLo: Int32Array;
  readonly leaseHi: Int32Array;
  readonly type: Uint16Array;
  readonly flags: Uint8Array;
  readonly len4: Uint8Array;
  /** Six bytes a row: the VtepMAC where the flags say HAS_MAC, else zero. */
  readonly mac: Uint8Array;
  /**
   * Four numbers a row, where the reader was made to give rows' bytes: the key name's and the
   * value's start and end in `window`, to be copied from there during the call.
   */
  readonly places: Uint32Array;
  /** The module's memory, which `places` point into. */
  readonly window: Buffer;
}

/** Where a reply's entries go. */
export interface ScanSink {
  /** Rows read. */
  rows(cols: ScanColumns): void;
  /** A KeyValue message not in flannel's form, as its own bytes (a copy), for the per-key path. */
  keyValue(kv: Buffer): void;
  /** RangeResponse fields from a point on (a copy), for the JavaScript reader; the keys it visited. */
  rest(fields: Buffer): ScanWalk;
}

let compiled: WasmModule | undefined;

/** The module, compiled once a process (a few kilobytes: well under a millisecond). */
function leaseScanModule(): WasmModule {
  compiled ??= new WebAssembly.Module(Buffer.from(LEASE_SCAN_WASM, "base64"));
  return compiled;
}

const align = (n: number, to: number): number => Math.ceil(n / to) * to;

/** A table's reader: one instance (and memory, as large as its window) per table, or per reply read at once. */
export class LeaseScanner {
  private readonly x: ScanExports;
  private readonly dataAt: number;

  /**
   * `dir`: the lease directory's bytes, which every key it reads starts with. `typeOf`: a
   * BackendType's index in the table and whether it is vxlan, as `(index << 1) | vxlan`.
   * `arena`: whether rows' key name and value bytes are wanted (ScanColumns.places).
   */
  private constructor(
    dir: Uint8Array,
    typeOf: (type: string) => number,
    private readonly arena: boolean,
  ) {
    let x: ScanExports | undefined;
    const imports = {
      env: {
        typeOf: (at: number, len: number): number =>
          typeOf(Buffer.from(x!.memory.buffer, at, len).toString("latin1")),
      },
    };
    x = new WebAssembly.Instance(leaseScanModule(), imports).exports as unknown as ScanExports;
    this.x = x;
    const dirAt = x.base();
    this.room(dirAt + dir.length);
    new Uint8Array(x.memory.buffer).set(dir, dirAt);
    x.init(dirAt, dir.length, MAX_VNI);
    this.dataAt = align(dirAt + dir.length, 16);
  }

  /**
   * A reader for `dir`, or undefined when the per-key path must read it: a directory over
   * 4 KiB, or a node without WebAssembly (`node --jitless` has none).
   */
  static of(dir: Uint8Array, typeOf: (type: string) => number, arena: boolean): LeaseScanner | undefined {
    if (dir.length > MAX_DIR || typeof (globalThis as { WebAssembly?: unknown }).WebAssembly !== "object") {
      return undefined;
    }
    return new LeaseScanner(dir, typeOf, arena);
  }

  private room(bytes: number): void {
    const have = this.x.memory.buffer.byteLength;
    if (bytes > have) this.x.memory.grow(Math.ceil((bytes - have) / 65536));
  }

  /**
   * Reads one RangeResponse into `sink`: its keys in key order; what it said besides. The
   * reply goes through the module's memory a window at a time (see {@link ScanFeed}), so the
   * reader's memory stays small whatever the reply's size, and rows keep no part of it.
   */
  read(reply: ReplyBytes, sink: ScanSink): ScanWalk {
    const feed = new ScanFeed(this.x, this.dataAt, this.arena, sink, (bytes) => this.room(bytes));
    for (const piece of Buffer.isBuffer(reply) ? [reply] : reply) feed.push(piece);
    return feed.end();
  }

  /**
   * The row numbers of `n` rows sorted by IPv4 address, then prefix length, then row number:
   * lease-table.ts's radixOrder, compiled (16 ms of code not yet optimised at 65,000 rows, ~1 ms
   * here). Uses the memory the replies went through.
   */
  order(ip4: Uint32Array, len4: Uint8Array, n: number): Uint32Array {
    const ipAt = align(this.dataAt, 8);
    const lenAt = ipAt + 4 * n;
    const a = align(lenAt + n, 8);
    const b = a + 4 * n;
    const counts = b + 4 * n;
    this.room(counts + 1024);
    const mem = this.x.memory.buffer;
    new Uint32Array(mem, ipAt, n).set(ip4.subarray(0, n));
    new Uint8Array(mem, lenAt, n).set(len4.subarray(0, n));
    const at = this.x.radixOrder(ipAt, lenAt, n, a, b, counts);
    return new Uint32Array(mem, at, n).slice();
  }
}

/**
 * One reply going through a reader's memory part by part ({@link push}, then {@link end}):
 * parts are copied into the window, which is read whenever it is full and at the end; what a
 * read leaves (a field the window cuts) moves to the window's start. A field larger than the
 * window doubles it; protobuf the module does not expect sends the rest of the reply to the
 * JavaScript reader ({@link ScanSink.rest}).
 */
class ScanFeed {
  private readonly inAt: number;
  private cap = 0;
  private rowsAt = 0;
  private bytes: Uint8Array;
  private cols: Omit<ScanColumns, "n">;
  /** The end of the bytes in the window. */
  private filled: number;
  private count = 0;
  private lastKey: Buffer | undefined;
  /** Once the module has handed the reply back: the rest of its bytes, for the JavaScript reader. */
  private rest: Buffer[] | undefined;
  private window = WINDOW;

  constructor(
    private readonly x: ScanExports,
    dataAt: number,
    /** Whether rows' bytes are wanted: their places in the window (see ScanColumns.places). */
    private readonly places: boolean,
    private readonly sink: ScanSink,
    private readonly room: (bytes: number) => void,
  ) {
    this.inAt = dataAt;
    this.bytes = new Uint8Array(0);
    this.cols = this.layout();
    this.filled = this.inAt;
    x.begin();
  }

  /** The window and the columns after it, `window` bytes of reply; the memory grown to hold them. */
  private layout(): Omit<ScanColumns, "n"> {
    this.cap = align(Math.ceil(this.window / MIN_ROW_WIRE) + 1, 8);
    this.rowsAt = align(this.inAt + this.window, 8);
    this.room(this.rowsAt + ROW_BYTES * this.cap);
    const mem = this.x.memory.buffer;
    this.bytes = new Uint8Array(mem);
    this.cols = columnsAt(mem, this.rowsAt, this.cap);
    return this.cols;
  }

  /** The next part of the reply (read during the call: the caller may reuse it afterwards). */
  push(part: Uint8Array): void {
    let at = 0;
    while (at < part.length) {
      if (this.rest !== undefined) {
        this.rest.push(Buffer.from(part.subarray(at)));
        return;
      }
      const take = Math.min(part.length - at, this.inAt + this.window - this.filled);
      this.bytes.set(part.subarray(at, at + take), this.filled);
      this.filled += take;
      at += take;
      if (this.filled === this.inAt + this.window) this.run(false);
    }
  }

  /** The reply is whole: what it said besides its keys. */
  end(): ScanWalk {
    if (this.rest === undefined) this.run(true);
    const x = this.x;
    const rest = this.rest === undefined ? undefined : this.sink.rest(Buffer.concat(this.rest));
    const last = rest?.lastKey ?? this.lastKey;
    return {
      count: this.count + (rest?.count ?? 0),
      revision: rest !== undefined && rest.revision !== 0 ? rest.revision : Math.max(x.outRevision.value, 0),
      more: rest?.more === true || x.outMore.value === 1,
      ...(last !== undefined && { lastKey: last }),
    };
  }

  /** Reads the window's whole fields into the sink (`last`: the reply ends with the window). */
  private run(last: boolean): void {
    const x = this.x;
    const inAt = this.inAt;
    let pos = inAt;
    let status: number;
    for (;;) {
      status = x.scan(pos, this.filled, this.rowsAt, this.cap, this.places, last);
      const n = x.outRows.value;
      // Every key read into a row; a KeyValue handed back is counted below.
      this.count += n;
      const keyAt = x.lastKeyAt.value;
      if (keyAt >= 0) this.lastKey = Buffer.from(this.bytes.subarray(keyAt, keyAt + x.lastKeyLen.value));
      if (n > 0) this.sink.rows({ ...this.cols, n });
      if (status === FALLBACK) {
        this.sink.keyValue(Buffer.from(this.bytes.subarray(x.fbStart.value, x.fbStop.value)));
        this.count++;
        pos = x.fbStop.value;
      } else if (status === FULL) pos = x.outPos.value;
      else break;
    }
    if (status === DONE && last) return;
    if (status === DONE || status === NEED_MORE) {
      // What is left of the window (a field it cuts) moves to its start.
      const from = status === DONE ? this.filled : x.outPos.value;
      this.bytes.copyWithin(inAt, from, this.filled);
      const shift = from - inAt;
      this.filled -= shift;
      // One field larger than the window: a larger window (the bytes in it stay where they are).
      if (shift === 0 && this.filled === inAt + this.window) {
        this.window *= 2;
        this.layout();
      }
      return;
    }
    if (status !== BAIL) throw new Error(`lease scan: unknown status ${status}`);
    // The rest of the reply, from the field it stopped at, for the JavaScript reader.
    this.rest = [Buffer.from(this.bytes.subarray(x.outPos.value, this.filled))];
    this.filled = inAt;
  }
}

/** The column views of `cap` rows at `at` (assembly/lease-scan.ts lays them out the same way). */
function columnsAt(mem: ArrayBuffer, at: number, cap: number): Omit<ScanColumns, "n"> {
  let o = at;
  const take = (size: number): number => {
    const start = o;
    o += size * cap;
    return start;
  };
  const createRevision = new Float64Array(mem, take(8), cap);
  const modRevision = new Float64Array(mem, take(8), cap);
  const ip4 = new Uint32Array(mem, take(4), cap);
  const publicIP = new Uint32Array(mem, take(4), cap);
  const vni = new Int32Array(mem, take(4), cap);
  const leaseLo = new Int32Array(mem, take(4), cap);
  const leaseHi = new Int32Array(mem, take(4), cap);
  const type = new Uint16Array(mem, take(2), cap);
  const flags = new Uint8Array(mem, take(1), cap);
  const len4 = new Uint8Array(mem, take(1), cap);
  const mac = new Uint8Array(mem, take(6), 6 * cap);
  const places = new Uint32Array(mem, take(16), 4 * cap);
  const window = Buffer.from(mem);
  return {
    createRevision,
    modRevision,
    ip4,
    publicIP,
    vni,
    leaseLo,
    leaseHi,
    type,
    flags,
    len4,
    mac,
    places,
    window,
  };
}
