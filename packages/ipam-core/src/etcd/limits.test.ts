import { describe, expect, it } from "vitest";
import {
  checkLeaseTtl,
  checkRequestSize,
  DEFAULT_MAX_REQUEST_BYTES,
  formatBytes,
  MAX_LEASE_TTL_SECONDS,
} from "./limits.js";

describe("etcd's limits", () => {
  it("lease TTLs: whole seconds from 1 to etcd's maximum", () => {
    expect(() => checkLeaseTtl(1)).not.toThrow();
    expect(() => checkLeaseTtl(MAX_LEASE_TTL_SECONDS)).not.toThrow();
    expect(() => checkLeaseTtl(MAX_LEASE_TTL_SECONDS + 1)).toThrow(/above etcd's maximum of 9000000000s/);
    expect(() => checkLeaseTtl(0)).toThrow(/whole number of seconds above 0/);
    expect(() => checkLeaseTtl(1.5)).toThrow(/whole number/);
  });

  it("request size: refused above the limit with the size and the limit in the sentence", () => {
    expect(() => checkRequestSize(DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_REQUEST_BYTES, "/k")).not.toThrow();
    expect(() => checkRequestSize(20 * 1024 * 1024, DEFAULT_MAX_REQUEST_BYTES, "/k")).toThrow(
      "the write to /k is 20 MiB (20971520 bytes), above etcd's request limit of 1.5 MiB (1572864 bytes)",
    );
  });

  it("formats byte counts as an admin reads them", () => {
    expect([formatBytes(512), formatBytes(2048), formatBytes(1.5 * 1024 * 1024)]).toEqual([
      "512 B",
      "2 KiB",
      "1.5 MiB",
    ]);
  });
});
