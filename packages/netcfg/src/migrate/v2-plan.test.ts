import type { KeyValue, V2Keyspace, V2Node } from "@podnet/ipam-core";
import { describe, expect, it } from "vitest";
import { migrationCounts, planV2Migration, type V2MigrationPlan } from "./v2-plan.js";

const P = "/coreos.com/network";
const CONFIG = '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}';
const vx = (ip: string) =>
  `{"PublicIP":"${ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0e:00:00:00:00:01"}}`;

function node(name: string, value: string | undefined, ttl?: number): V2Node {
  return {
    key: `${P}/subnets/${name}`,
    ...(value !== undefined && { value }),
    ...(ttl !== undefined && { ttl }),
    modifiedIndex: 3,
  };
}

function kv(name: string, value: string): KeyValue {
  return {
    key: `${P}/subnets/${name}`,
    value: Buffer.from(value),
    createRevision: 2,
    modRevision: 2,
    version: 1,
    lease: "0",
  };
}

function plan(subnets: V2Node[], v3: KeyValue[] = [], config = CONFIG): V2MigrationPlan {
  const v2: V2Keyspace = {
    endpoint: "http://127.0.0.1:2379",
    prefix: P,
    config: { key: `${P}/config`, value: config, modifiedIndex: 2 },
    subnets,
    readAtMs: 0,
  };
  const out = planV2Migration({ prefix: P, v2, v3Config: undefined, v3Subnets: v3, preferV2: false });
  if (!out.valid) throw new Error("invalid");
  return out;
}

describe("planV2Migration", () => {
  it("keeps flannel's bytes, re-encodes an older flannel's value, and keeps a reservation one", () => {
    const old =
      '{"PublicIP":"192.0.2.2","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0e:00:00:00:00:01"}}';
    const p = plan([node("10.5.1.0-24", vx("192.0.2.1"), 600), node("10.5.2.0-24", old)]);
    expect(p.leases.map((l) => [l.key, l.value, l.reencoded, l.ttlSeconds, l.status])).toEqual([
      [`${P}/subnets/10.5.1.0-24`, vx("192.0.2.1"), false, 600, "migrate"],
      [`${P}/subnets/10.5.2.0-24`, vx("192.0.2.2"), true, null, "migrate"],
    ]);
  });

  it("skips foreign keys, directories and damaged values; counts a spent TTL as expired", () => {
    const p = plan([
      node("junk", "{}"),
      node("10.5.9.0-24", undefined),
      node("10.5.3.0-24", "{"),
      node("10.5.4.0-24", vx("192.0.2.4"), 0),
    ]);
    expect(p.skipped.map((s) => s.kind).sort()).toEqual(["damaged", "foreign", "foreign"]);
    expect(p.leases.map((l) => l.status)).toEqual(["expired"]);
    expect(migrationCounts(p)).toEqual({ migrated: 1, present: 0, conflicts: 0, skipped: 3, expired: 1 });
  });

  it("finds what v3 already holds: the same value, another value, the same host elsewhere, an overlap", () => {
    const p = plan(
      [
        node("10.5.1.0-24", vx("192.0.2.1"), 600),
        node("10.5.2.0-24", vx("192.0.2.2"), 600),
        node("10.5.3.0-24", vx("192.0.2.3"), 600),
        node("10.5.4.0-24", vx("192.0.2.4"), 600),
      ],
      [
        kv("10.5.1.0-24", vx("192.0.2.1")),
        kv("10.5.2.0-24", vx("198.51.100.9")),
        kv("10.5.30.0-24", vx("192.0.2.3")),
        kv("10.5.4.0-23", vx("198.51.100.8")),
      ],
    );
    expect(p.leases.map((l) => [l.subnet, l.status, l.reason ?? ""])).toEqual([
      ["10.5.1.0/24", "present", ""],
      ["10.5.2.0/24", "conflict", `v3 holds a different value at ${P}/subnets/10.5.2.0-24`],
      ["10.5.3.0/24", "conflict", "host 192.0.2.3 already holds 10.5.30.0/24 in v3"],
      ["10.5.4.0/24", "conflict", "overlaps the v3 lease 10.5.4.0/23"],
    ]);
  });

  it("plans nothing for an invalid config and names no config as not found", () => {
    const v2: V2Keyspace = {
      endpoint: "e",
      prefix: P,
      config: { key: `${P}/config`, value: '{"Network":"10.5.0.0/16","SubnetLen":31}', modifiedIndex: 2 },
      subnets: [],
      readAtMs: 0,
    };
    const out = planV2Migration({ prefix: P, v2, v3Config: undefined, v3Subnets: [], preferV2: false });
    expect(out.valid).toBe(false);
    expect(() =>
      planV2Migration({
        prefix: P,
        v2: { ...v2, config: undefined },
        v3Config: undefined,
        v3Subnets: [],
        preferV2: false,
      }),
    ).toThrow(/no flannel config/);
  });
});

describe("planV2Migration with --prefer v2", () => {
  const v3Config = { key: `${P}/config`, text: CONFIG, modRevision: 5, createRevision: 2, version: 2 };
  const v2Config = '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","VNI":2}}';
  const input = (preferV2: boolean, allowDisruption: boolean) => ({
    prefix: P,
    v2: {
      endpoint: "e",
      prefix: P,
      config: { key: `${P}/config`, value: v2Config, modifiedIndex: 2 },
      subnets: [],
      readAtMs: 0,
    },
    v3Config,
    v3Subnets: [kv("10.5.1.0-24", vx("192.0.2.1"))],
    preferV2,
    allowDisruption,
  });

  it("refuses a replace that changes the data plane of hosts on v3 unless disruption is allowed", () => {
    const kept = planV2Migration(input(false, false));
    const refused = planV2Migration(input(true, false));
    const replaced = planV2Migration(input(true, true));
    if (!kept.valid || !refused.valid || !replaced.valid) throw new Error("invalid");
    expect(kept.config.status).toBe("conflict");
    expect(refused.config.status).toBe("refused");
    expect(refused.config.impact?.dataPlane).toEqual([{ setting: "Backend.VNI", from: 1, to: 2 }]);
    expect(replaced.config).toMatchObject({ status: "replace", v3Revision: 5 });
  });
});
