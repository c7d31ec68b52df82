/**
 * What flannel never checks and podnet does: address families, SubnetMin <= SubnetMax, the
 * capacity of the range against a planned node count, and overlap with the underlay.
 */
import {
  checkCidr,
  formatIPv4,
  formatIPv4Cidr,
  formatIPv6,
  formatIPv6Cidr,
  ipv4NetsOverlap,
  ipv6NetsOverlap,
  maskIPv4,
  maskIPv6,
} from "@podnet/ipam-core";
import { type Diagnostic, error } from "./diagnostic.js";
import type { FieldPointer, IPv4Range, IPv6Range } from "./network.js";

/** Errors for an unusable choice of address families. */
export function checkFamilies(enableIPv4: boolean, enableIPv6: boolean, at: FieldPointer): Diagnostic[] {
  if (!enableIPv4 && !enableIPv6) {
    return [error("", "EnableIPv4 and EnableIPv6 are both false; enable at least one address family")];
  }
  if (!enableIPv4) {
    return [
      error(
        at("EnableIPv4"),
        "IPv6-only networks do not work with etcd: flannel's etcd lease code always needs an IPv4 part; set EnableIPv4 to true and give a Network",
      ),
    ];
  }
  return [];
}

/** Errors when SubnetMin lies above SubnetMax, which leaves nothing to lease. */
export function checkRangeOrder(
  v4: IPv4Range | undefined,
  v6: IPv6Range | undefined,
  at: FieldPointer,
): Diagnostic[] {
  const out: Diagnostic[] = [];
  if (v4 && v4.min > v4.max) {
    out.push(
      error(
        at("SubnetMin"),
        `SubnetMin ${formatIPv4(v4.min)} is above SubnetMax ${formatIPv4(v4.max)}, so no subnet can be leased`,
      ),
    );
  }
  if (v6 && v6.min > v6.max) {
    out.push(
      error(
        at("IPv6SubnetMin"),
        `IPv6SubnetMin ${formatIPv6(v6.min)} is above IPv6SubnetMax ${formatIPv6(v6.max)}, so no subnet can be leased`,
      ),
    );
  }
  return out;
}

/** How many subnets of an IPv4 range can be leased. */
export function ipv4RangeCount(r: IPv4Range): number {
  return r.min > r.max ? 0 : Math.floor((r.max - r.min) / 2 ** (32 - r.subnetLen)) + 1;
}

/** How many subnets of an IPv6 range can be leased. */
export function ipv6RangeCount(r: IPv6Range): bigint {
  return r.min > r.max ? 0n : (r.max - r.min) / (1n << BigInt(128 - r.subnetLen)) + 1n;
}

/** Errors when a range holds fewer subnets than the planned number of nodes. */
export function checkCapacity(
  nodes: number,
  v4: IPv4Range | undefined,
  v6: IPv6Range | undefined,
  at: FieldPointer,
): Diagnostic[] {
  const out: Diagnostic[] = [];
  if (v4) {
    const count = ipv4RangeCount(v4);
    if (count < nodes) {
      const range = `${formatIPv4(v4.min)} … ${formatIPv4(v4.max)}`;
      out.push(
        error(
          at("Network"),
          `the subnet range ${range} holds ${count} subnets of /${v4.subnetLen}, fewer than the ${nodes} nodes planned; ${suggestLength(
            "SubnetLen",
            v4.net.prefix,
            30,
            BigInt(nodes),
            formatIPv4Cidr(v4.net),
          )}`,
        ),
      );
    }
  }
  if (v6) {
    const count = ipv6RangeCount(v6);
    if (count < BigInt(nodes)) {
      const range = `${formatIPv6(v6.min)} … ${formatIPv6(v6.max)}`;
      out.push(
        error(
          at("IPv6Network"),
          `the IPv6 subnet range ${range} holds ${count} subnets of /${v6.subnetLen}, fewer than the ${nodes} nodes planned; ${suggestLength(
            "IPv6SubnetLen",
            v6.net.prefix,
            126,
            BigInt(nodes),
            formatIPv6Cidr(v6.net),
          )}`,
        ),
      );
    }
  }
  return out;
}

/**
 * The suggestion for a too-small range: the shortest subnet length (the biggest subnet per
 * node) whose default range, which skips the first subnet, holds `nodes`.
 */
function suggestLength(
  field: string,
  prefix: number,
  longest: number,
  nodes: bigint,
  network: string,
): string {
  for (let len = prefix + 2; len <= longest; len++) {
    const count = (1n << BigInt(len - prefix)) - 1n;
    if (count >= nodes) return `${field} ${len} would hold ${count} with the default range`;
  }
  return `no ${field} up to ${longest} holds ${nodes} subnets in ${network}; use a larger network`;
}

/** Errors for underlay networks that overlap the pod networks, and for underlay entries that are no CIDR. */
export function checkUnderlay(
  underlay: readonly string[],
  v4: IPv4Range | undefined,
  v6: IPv6Range | undefined,
  at: FieldPointer,
): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const cidr of underlay) {
    const typed = checkCidr(cidr);
    if (typeof typed === "string") {
      out.push(error("", `underlay: ${typed}`));
      continue;
    }
    const u4 = typed.family === 4 ? typed.net : null;
    const u6 = typed.family === 6 ? typed.net : null;
    if (u4 && v4 && ipv4NetsOverlap(u4, v4.net)) {
      const net = formatIPv4Cidr({ ip: maskIPv4(u4.ip, u4.prefix), prefix: u4.prefix });
      out.push(
        error(
          at("Network"),
          `Network ${formatIPv4Cidr(v4.net)} overlaps the underlay network ${net}; pod routes would hijack traffic between hosts`,
        ),
      );
    }
    if (u6 && v6 && ipv6NetsOverlap(u6, v6.net)) {
      const net = formatIPv6Cidr({ ip: maskIPv6(u6.ip, u6.prefix), prefix: u6.prefix });
      out.push(
        error(
          at("IPv6Network"),
          `IPv6Network ${formatIPv6Cidr(v6.net)} overlaps the underlay network ${net}; pod routes would hijack traffic between hosts`,
        ),
      );
    }
  }
  return out;
}
