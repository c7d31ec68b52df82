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
  scan(
    pos: number,
    end: number,
    rows: number,
    cap: number,
    segAt: number,
    segCount: number,
    last: boolean,
  ): number;
  readonly outRows: WasmGlobal;
  readonly outPos: WasmGlobal;
  readonly outCopies: WasmGlobal;
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

/** The window a reply goes through the module's memory in. */
const WINDOW = 1 << 20;
/** Segments of pieces a window may hold (a window is refilled early when its table is full). */
const MAX_SEGMENTS = 1024;

/** Bytes of columns a row takes (see assembly/lease-scan.ts's layout). */
const ROW_BYTES = 8 + 8 + 4 * 5 + 2 + 1 + 1 + 6 + 20 + 4;
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
  /** Five numbers a row, ByteArena's: the chunk, then the name's and the value's start and end in it. */
  readonly arena: Uint32Array;
  /**
   * The rows (numbers among the `n`) whose bytes lie across two pieces: their arena numbers
   * are offsets in `window`, to be copied from there (the caller's, during the call).
   */
  readonly copies: Uint32Array;
  /** The module's memory, which `copies`' offsets point into. */
  readonly window: Buffer;
}

/** Where a reply's entries go. */
export interface ScanSink {
  /** Keeps a piece of the reply as an arena chunk; its index (the rows' arena offsets say it). */
  keep(piece: Buffer): number;
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

/** A table's reader: one instance (and memory, as large as the largest reply) per table. */
export class LeaseScanner {
  private readonly x: ScanExports;
  private readonly dataAt: number;

  /**
   * `dir`: the lease directory's bytes, which every key it reads starts with. `typeOf`: a
   * BackendType's index in the table and whether it is vxlan, as `(index << 1) | vxlan`.
   * `arena`: whether rows keep their key name and value bytes (in the reply's pieces, see read).
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
   * reply goes through the module's memory a window at a time (about 1 MiB), so its memory
   * stays small whatever the reply's size; with an arena, rows point into the reply's own
   * pieces (`kept`: the store never reuses them), each piece becoming an arena chunk.
   */
  read(reply: ReplyBytes, sink: ScanSink): ScanWalk {
    const x = this.x;
    const pieces = Buffer.isBuffer(reply) ? [reply] : reply;
    const segsAt = this.dataAt;
    const inAt = segsAt + 16 * MAX_SEGMENTS;
    let window = WINDOW;
    const layout = () => {
      const cap = align(Math.ceil(window / MIN_ROW_WIRE) + 1, 8);
      const rowsAt = align(inAt + window, 8);
      this.room(rowsAt + ROW_BYTES * cap);
      return { cap, rowsAt, mem: x.memory.buffer };
    };
    let { cap, rowsAt, mem } = layout();
    let bytes = new Uint8Array(mem);
    let cols = columnsAt(mem, rowsAt, cap);
    x.begin();
    // The window's segments: [window start, window end, arena chunk, piece offset - window address].
    const segs: number[][] = [];
    const chunks = new Map<Buffer, number>();
    let piece = 0;
    let pieceAt = 0;
    let filled = inAt;
    let count = 0;
    let lastKey: Buffer | undefined;
    for (;;) {
      // Fill the window from the pieces.
      while (piece < pieces.length && filled < inAt + window && segs.length < MAX_SEGMENTS) {
        const p = pieces[piece]!;
        const take = Math.min(p.length - pieceAt, inAt + window - filled);
        bytes.set(p.subarray(pieceAt, pieceAt + take), filled);
        if (this.arena) {
          let chunk = chunks.get(p);
          if (chunk === undefined) {
            chunk = sink.keep(p);
            chunks.set(p, chunk);
          }
          segs.push([filled, filled + take, chunk, pieceAt - filled]);
        }
        filled += take;
        pieceAt += take;
        if (pieceAt === p.length) {
          piece++;
          pieceAt = 0;
        }
      }
      const last = piece === pieces.length;
      if (this.arena) {
        const table = new Int32Array(mem, segsAt, 4 * segs.length);
        for (let k = 0; k < segs.length; k++) table.set(segs[k]!, 4 * k);
      }
      let pos = inAt;
      let status: number;
      for (;;) {
        status = x.scan(pos, filled, rowsAt, cap, this.arena ? segsAt : 0, segs.length, last);
        const n = x.outRows.value;
        // Every key read into a row; a KeyValue handed back is counted below.
        count += n;
        const keyAt = x.lastKeyAt.value;
        if (keyAt >= 0) lastKey = Buffer.from(bytes.subarray(keyAt, keyAt + x.lastKeyLen.value));
        if (n > 0) sink.rows({ ...cols, n, copies: cols.copies.subarray(0, x.outCopies.value) });
        if (status === FALLBACK) {
          sink.keyValue(Buffer.from(bytes.subarray(x.fbStart.value, x.fbStop.value)));
          count++;
          pos = x.fbStop.value;
        } else if (status === FULL) pos = x.outPos.value;
        else break;
      }
      if (status === DONE && last) break;
      if (status === DONE || status === NEED_MORE) {
        // What is left of the window (a field it cuts) moves to its start.
        const from = status === DONE ? filled : x.outPos.value;
        bytes.copyWithin(inAt, from, filled);
        const shift = from - inAt;
        const kept = segs
          .filter((sg) => sg[1]! > from)
          .map((sg) => [Math.max(sg[0]!, from) - shift, sg[1]! - shift, sg[2]!, sg[3]! + shift]);
        segs.length = 0;
        segs.push(...kept);
        filled -= shift;
        if (shift === 0 && segs.length === MAX_SEGMENTS) {
          // A field across more pieces than a window's table holds: the JavaScript reader's.
          return this.rest(
            sink,
            count,
            lastKey,
            Buffer.concat([bytes.subarray(inAt, filled), ...restOf(pieces, piece, pieceAt)]),
          );
        }
        if (shift === 0 && filled === inAt + window) {
          // One field larger than the window: a larger window.
          window *= 2;
          ({ cap, rowsAt, mem } = layout());
          bytes = new Uint8Array(mem);
          cols = columnsAt(mem, rowsAt, cap);
        }
        continue;
      }
      if (status !== BAIL) throw new Error(`lease scan: unknown status ${status}`);
      // The rest of the reply, from the field it stopped at, for the JavaScript reader.
      const from = x.outPos.value;
      return this.rest(
        sink,
        count,
        lastKey,
        Buffer.concat([bytes.subarray(from, filled), ...restOf(pieces, piece, pieceAt)]),
      );
    }
    return {
      count,
      revision: Math.max(x.outRevision.value, 0),
      more: x.outMore.value === 1,
      ...(lastKey !== undefined && { lastKey }),
    };
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

  /** Hands `fields` (a copy) to the JavaScript reader: the keys so far and after, and what the reply said. */
  private rest(sink: ScanSink, count: number, lastKey: Buffer | undefined, fields: Buffer): ScanWalk {
    const rest = sink.rest(fields);
    const last = rest.lastKey ?? lastKey;
    return {
      count: count + rest.count,
      revision: rest.revision !== 0 ? rest.revision : Math.max(this.x.outRevision.value, 0),
      more: rest.more || this.x.outMore.value === 1,
      ...(last !== undefined && { lastKey: last }),
    };
  }
}

/** The pieces from piece `i`, offset `at`, on. */
function restOf(pieces: readonly Buffer[], i: number, at: number): Buffer[] {
  return i < pieces.length ? [pieces[i]!.subarray(at), ...pieces.slice(i + 1)] : [];
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
  const arena = new Uint32Array(mem, take(20), 5 * cap);
  const copies = new Uint32Array(mem, take(4), cap);
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
    arena,
    copies,
    window,
  };
}
