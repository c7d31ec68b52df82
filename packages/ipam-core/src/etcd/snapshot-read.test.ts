import { describe, expect, it } from "vitest";
import { PodnetError } from "../errors.js";
import { readSnapshot, SNAPSHOT_ATTEMPTS } from "./snapshot-read.js";

const compacted = () =>
  new PodnetError("compacted", "etcd has compacted that revision; it is no longer available");

describe("readSnapshot", () => {
  it("reads again after a compacted revision, telling each attempt whether it is the last", async () => {
    const seen: boolean[] = [];
    const answer = await readSnapshot(async (last) => {
      seen.push(last);
      if (seen.length < SNAPSHOT_ATTEMPTS) throw compacted();
      return "read";
    });
    expect(answer).toBe("read");
    expect(seen).toEqual([...Array(SNAPSHOT_ATTEMPTS - 1).fill(false), true]);
  });

  it("stops at the bound with the compacted error as it is", async () => {
    let attempts = 0;
    const err = compacted();
    await expect(
      readSnapshot(async () => {
        attempts++;
        throw err;
      }, 2),
    ).rejects.toBe(err);
    expect(attempts).toBe(2);
  });

  it("never reads again after any other failure", async () => {
    let attempts = 0;
    const err = new PodnetError("unavailable", "no etcd endpoint answered");
    await expect(
      readSnapshot(async () => {
        attempts++;
        throw err;
      }),
    ).rejects.toBe(err);
    expect(attempts).toBe(1);
  });
});
