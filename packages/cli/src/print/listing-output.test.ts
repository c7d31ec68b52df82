import { LeaseTable } from "@podnet/ipam-core";
import { describe, expect, it } from "vitest";
import { tableViews } from "../commands/lease/lease-context.js";
import type { TtlLookup } from "../ttl-policy.js";
import { safeJson } from "./bounded.js";
import { type ByteSink, sinkText } from "./byte-sink.js";
import type { BytePart } from "./json-stream.js";
import { formatLeaseTable, leaseData, leaseJson, leaseTableLines, writeLeasesJson } from "./lease.js";
import { listingOf, scannedTableOf } from "./listing.fixture.js";
import {
  eachRoute,
  formatRouteTable,
  routeData,
  routeJson,
  routeTableLines,
  writeRoutesJson,
} from "./route.js";

const MAC = "c6:d2:32:6f:8f:44";
const vxlan = (ip: string, vni = 1, mac = MAC) =>
  `{"PublicIP":"${ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":${vni},"VtepMAC":"${mac}"}}`;

/** Every shape the listing views print differently, in etcd's key order. */
const ENTRIES: [string, string, string][] = [
  ["10.5.1.0-24", vxlan("192.0.2.1"), "7"],
  ["10.5.10.0-24", vxlan("192.0.2.10", 4096, "0a:00:27:00:00:01"), "8"],
  ["10.5.100.0-24", vxlan("192.0.2.100"), "404"], // its etcd lease is gone
  ["10.5.3.0-24", `{"PublicIP":"192.0.2.3","PublicIPv6":null,"BackendType":"vxlan"}`, "0"], // reservation, no data
  ["10.5.4.0-24", vxlan("192.0.2.4", 1, "01:00:5e:00:00:01"), "7"], // multicast VtepMAC: none
  ["10.5.5.0-24", `{ "PublicIP": "192.0.2.5", "BackendType": "host-gw" }`, "7"],
  ["10.5.6.0-24", `{"PublicIP":"192.0.2.6"}`, "7"], // udp or alloc
  [
    "10.5.8.0-24",
    `{"PublicIP":"192.0.2.8","BackendType":"host-gw","BackendData":{"Note":"grüße \\"q\\" \\u0001"}}`,
    "7",
  ],
  [
    "10.5.9.0-24",
    `{"PublicIP":"192.0.2.9","BackendType":"vxlan","BackendData":{"vni":9,"vtepmac":"C6:D2:32:6F:8F:09"}}`,
    "7",
  ],
  [
    "10.5.11.0-24",
    `{"PublicIP":"192.0.2.11","BackendType":"we\\"ird","BackendData":{"b":1.50,"1":2e3,"a":[]}}`,
    "7",
  ],
  ["10.5.12.0-24", `{"PublicIP":"192.0.2.12","BackendType":"vxlan","BackendData":"not an object"}`, "7"],
  ["10.5.13.0-32", `{"PublicIP":"0.0.0.0","BackendType":"ipip"}`, "7"], // a host route via 0.0.0.0
  ["10.5.15.0-24", `{"PublicIP":"192.0.2.15","BackendType":"grüße"}`, "7"], // a device name outside ASCII
  [
    "10.5.7.0-24&fc00:0:0:7::-64",
    `{"PublicIP":"192.0.2.7","PublicIPv6":"fc00::7","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${MAC}"},"BackendV6Data":{"VNI":2,"VtepMAC":"c6:d2:32:6f:8f:77"}}`,
    "8",
  ],
  [
    "0.0.0.0-0&fc00:0:0:8::-64",
    `{"PublicIP":"192.0.2.8","PublicIPv6":"fc00::8","BackendType":"vxlan","BackendV6Data":{"VNI":1,"VtepMAC":"${MAC}"}}`,
    "7",
  ],
  ["10.5.14.0-24", "{oops", "9"], // damaged
  ["not-a-subnet", "x", "0"], // foreign
];

const LOOKUPS: Record<string, TtlLookup> = {
  fetched: {
    ttls: new Map([
      ["7", 86_399],
      ["8", 59],
    ]),
    skipped: 0,
  },
  "not fetched": { skipped: 3 },
};

/** Table lines as the printer writes them: each text line and its newline, parts written into bytes as they are. */
function linesText(lines: Iterable<string | BytePart>): string {
  return sinkText((out) => {
    for (const line of lines) {
      if (typeof line === "string") out.text(`${line}\n`);
      else for (const _ of line.write(out));
    }
  });
}

/** A prefix JSON must escape, with a character outside ASCII. */
const PREFIX = '/weird "net"/ü';

describe("the listing views over a scanned lease table", () => {
  const table = scannedTableOf(PREFIX, ENTRIES);
  const opts = { prefix: PREFIX };

  it("hold every kind of lease the fixture means to print", () => {
    expect(table.size).toBe(ENTRIES.length - 2);
    expect(table.hasIPv6).toBe(true);
  });

  for (const [name, lookup] of Object.entries(LOOKUPS)) {
    it(`write each lease's and route's JSON as JSON.stringify would (TTLs ${name})`, () => {
      const views = tableViews(table, lookup);
      for (const view of views.views()) expect(leaseJson(view)).toBe(JSON.stringify(leaseData(view)));
      const routes = [...eachRoute(views, 3)];
      expect(routes.length).toBe(table.size + 1); // none over IPv4 for 0.0.0.0-0, two for the dual-stack lease
      for (const route of routes) expect(routeJson(route)).toBe(JSON.stringify(routeData(route)));
      // Written from the table's columns into bytes, the whole array is JSON.stringify's.
      const written = sinkText((out) => {
        for (const _ of writeRoutesJson(views, 3, out));
      });
      expect(written).toBe(JSON.stringify(routes.map(routeData)));
      const leases = sinkText((out) => {
        for (const _ of writeLeasesJson(views, out));
      });
      expect(leases).toBe(JSON.stringify([...views.views()].map(leaseData)));
    });

    it(`stream the route and lease tables as the whole tables would be (TTLs ${name})`, () => {
      const views = tableViews(table, lookup);
      const routes = [...eachRoute(views, 3)];
      for (const numeric of [true, false]) {
        const lines = linesText(routeTableLines(views, 3, table, { ...opts, numeric }));
        expect(lines).toBe(`${formatRouteTable(routes, table, { ...opts, numeric })}\n`);
      }
      const leases = [...leaseTableLines(() => views.views(), table)];
      expect(leases.join("\n")).toBe(formatLeaseTable([...views.views()], table));
    });
  }

  it("write thousands of routes and leases across many output buffers as JSON.stringify would", () => {
    // Every shape above, and a long run of flannel's own leases, some hundreds of kB of JSON.
    const many: [string, string, string][] = [...ENTRIES];
    for (let k = 0; k < 3000; k++) {
      const lease = k % 7 === 0 ? "0" : String(7 + (k % 2));
      many.push([`10.${6 + (k >> 8)}.${k & 255}.0-24`, vxlan(`192.0.${k >> 8}.${k & 255}`, k, MAC), lease]);
    }
    const big = scannedTableOf(PREFIX, many);
    const views = tableViews(big, LOOKUPS["fetched"] ?? { skipped: 0 });
    const write = (w: (out: ByteSink) => Iterable<unknown>) =>
      sinkText((out) => {
        for (const _ of w(out));
      });
    const routes = write((out) => writeRoutesJson(views, 3, out));
    expect(routes.length).toBeGreaterThan(4 * 64 * 1024);
    expect(routes).toBe(JSON.stringify([...eachRoute(views, 3)].map(routeData)));
    const leases = write((out) => writeLeasesJson(views, out));
    expect(leases).toBe(JSON.stringify([...views.views()].map(leaseData)));
    for (const numeric of [true, false]) {
      const lines = linesText(routeTableLines(views, 3, big, { prefix: PREFIX, numeric }));
      expect(lines).toBe(`${formatRouteTable([...eachRoute(views, 3)], big, { prefix: PREFIX, numeric })}\n`);
    }
  });

  it("stream a table made from a listing, and an empty one, the same way, as tables and as JSON", () => {
    const listing = listingOf({ "10.5.1.0-24": { value: vxlan("192.0.2.1"), lease: "7" } });
    for (const t of [LeaseTable.of(listing, "/coreos.com/network"), scannedTableOf(PREFIX, [])]) {
      const views = tableViews(t, LOOKUPS["fetched"] ?? { skipped: 0 });
      const routes = [...eachRoute(views, 1)];
      const lines = linesText(routeTableLines(views, 1, t, { ...opts, numeric: false }));
      expect(lines).toBe(`${formatRouteTable(routes, t, { ...opts, numeric: false })}\n`);
      const json = sinkText((out) => {
        for (const _ of writeRoutesJson(views, 1, out));
        out.text("\n");
        for (const _ of writeLeasesJson(views, out));
      });
      expect(json).toBe(
        `${JSON.stringify(routes.map(routeData))}\n${JSON.stringify([...views.views()].map(leaseData))}`,
      );
    }
  });

  it("write a lease whose data is too deep for JSON.stringify as safeJson writes leaseData", () => {
    // Deep enough to overflow JSON.stringify's recursion on every Node the tests run on.
    const deep = `${"[".repeat(200_000)}${"]".repeat(200_000)}`;
    const t = scannedTableOf(PREFIX, [
      ["10.5.1.0-24", `{"PublicIP":"192.0.2.1","BackendType":"x","BackendData":${deep}}`, "0"],
    ]);
    const [view] = [...tableViews(t, { skipped: 0 }).views()];
    if (view === undefined) throw new Error("no lease");
    const json = leaseJson(view);
    expect(json).toBe(safeJson(leaseData(view)));
    expect(JSON.parse(json)).toMatchObject({ subnet: "10.5.1.0/24", key: `${PREFIX}/subnets/10.5.1.0-24` });
  });
});
