import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { WireWriter } from "./etcd/protobuf-wire.js";
import { LeaseTableBuilder } from "./lease-table.js";

describe("the lease table's bulk reader", () => {
  it("is the committed build of assembly/lease-scan.ts", async () => {
    // scripts/build-wasm.mjs compiles the AssemblyScript; the committed module must be its output.
    const script = new URL("../../../scripts/build-wasm.mjs", import.meta.url).href;
    const { leaseScanModule } = (await import(script)) as { leaseScanModule: () => Promise<string> };
    const committed = await readFile(new URL("./lease-scan-wasm.ts", import.meta.url), "utf8");
    expect(committed).toBe(await leaseScanModule());
  }, 60_000);

  it("leaves a lease directory too long for it to the per-key path, with the same answer", () => {
    const prefix = `/${"p".repeat(5000)}`;
    const dir = `${prefix}/subnets/`;
    const value = '{"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":"host-gw"}';
    const w = new WireWriter().message(1, new WireWriter().uint(3, 77));
    for (let i = 0; i < 20; i++) {
      w.message(
        2,
        new WireWriter()
          .bytes(1, Buffer.from(`${dir}10.5.${i}.0-24`))
          .uint(2, 3)
          .bytes(5, Buffer.from(value)),
      );
    }
    const b = new LeaseTableBuilder(prefix, { rows: false });
    expect(b.addReply(Buffer.from(w.finish()))).toEqual({
      count: 20,
      revision: 77,
      more: false,
      lastKey: Buffer.from(`${dir}10.5.19.0-24`),
    });
    const t = b.finish(77);
    expect(t.size).toBe(20);
    expect(t.reservations).toBe(20);
    expect(t.backendType(19)).toBe("host-gw");
  });

  it("leaves every reply to the per-key path on a node without WebAssembly (node --jitless)", () => {
    // The child runs the built library (it cannot load this package's TypeScript).
    const table = new URL("../dist/lease-table.js", import.meta.url).href;
    const wire = new URL("../dist/etcd/protobuf-wire.js", import.meta.url).href;
    const script = `
      const { LeaseTableBuilder } = await import(${JSON.stringify(table)});
      const { WireWriter } = await import(${JSON.stringify(wire)});
      const w = new WireWriter().message(1, new WireWriter().uint(3, 8));
      for (let i = 0; i < 3; i++) w.message(2, new WireWriter().bytes(1, Buffer.from("/p/subnets/10.5." + i + ".0-24")).uint(2, 3)
        .bytes(5, Buffer.from('{"PublicIP":"192.0.2.1","PublicIPv6":null}')));
      const b = new LeaseTableBuilder("/p", { rows: false });
      const walk = b.addReply(Buffer.from(w.finish()));
      console.log(typeof WebAssembly, walk.count, b.finish(8).size);
    `;
    const out = execFileSync(process.execPath, ["--jitless", "--input-type=module", "-e", script], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    expect(out.trim()).toBe("undefined 3 3");
  });
});
