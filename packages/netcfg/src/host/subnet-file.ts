/**
 * flannel's subnet file (`/run/flannel/subnet.env`, flannel-compat.md section 8): the lines
 * docker's `--bip`, the CNI flannel plugin and mk-docker-opts.sh read, byte for byte as
 * flanneld writes them, and read back on restart as the previous-subnet hint.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import {
  formatIPv4,
  formatIPv4Cidr,
  formatIPv6,
  formatIPv6Cidr,
  hasIPv4,
  type IPv4Net,
  type IPv6Net,
  type LeaseNetwork,
  type LeaseSubnet,
  maskIPv4,
  maskIPv6,
  PodnetError,
  parseIPv4Cidr,
  parseIPv6Cidr,
} from "@podnet/ipam-core";

/** flanneld's default subnet file. */
export const DEFAULT_SUBNET_FILE = "/run/flannel/subnet.env";

/** What goes into a subnet file; subnets are the lease's network addresses (host bits zero). */
export interface SubnetFileInput {
  /** The whole IPv4 pod network (config `Network`); written only with `subnet`. */
  readonly network?: IPv4Net | undefined;
  /** This host's IPv4 lease, e.g. 10.5.52.0/24 (written as its first address, 10.5.52.1/24). */
  readonly subnet?: IPv4Net | undefined;
  /** The whole IPv6 pod network (config `IPv6Network`); written only with `ipv6Subnet`. */
  readonly ipv6Network?: IPv6Net | undefined;
  /** This host's IPv6 lease, e.g. fc00:0:0:34::/64 (written as fc00:0:0:34::1/64). */
  readonly ipv6Subnet?: IPv6Net | undefined;
  /** The overlay MTU (the underlay's minus 50 for vxlan). */
  readonly mtu: number;
  readonly ipMasq: boolean;
}

/** A subnet file as read back: every KEY=value it holds, and the known ones parsed. */
export interface SubnetFileContents {
  /** Every assignment, unquoted, in file order (later ones win, as in a shell). */
  readonly values: Readonly<Record<string, string>>;
  readonly network?: IPv4Net;
  /** FLANNEL_SUBNET as written: the first usable address with the lease's prefix. */
  readonly subnet?: IPv4Net;
  readonly ipv6Network?: IPv6Net;
  readonly ipv6Subnet?: IPv6Net;
  readonly mtu?: number;
  readonly ipMasq?: boolean;
  /** The lease the file was written for (FLANNEL_SUBNET 10.5.52.1/24 → 10.5.52.0/24): acquire's hint. */
  previousSubnet(): LeaseSubnet | undefined;
}

/** The subnet file's content for a network and this host's lease: the lines of each family the network has. */
export function subnetFileFor(
  network: LeaseNetwork,
  subnet: LeaseSubnet,
  mtu: number,
  ipMasq: boolean,
): SubnetFileInput {
  return {
    ...(network.ipv4 !== undefined &&
      hasIPv4(subnet) && { subnet: subnet.ipv4, network: network.ipv4.network }),
    ...(network.ipv6 !== undefined &&
      subnet.ipv6 !== undefined && { ipv6Subnet: subnet.ipv6, ipv6Network: network.ipv6.network }),
    mtu,
    ipMasq,
  };
}

/** The file's text exactly as flanneld writes it: its lines in its order, no quotes, no export. */
export function formatSubnetFile(input: SubnetFileInput): string {
  if (!Number.isInteger(input.mtu) || input.mtu < 0 || input.mtu > 65_535) {
    throw new PodnetError("usage", `MTU ${input.mtu} is not a whole number from 0 to 65535`);
  }
  let out = "";
  if (input.subnet !== undefined) {
    const sn = input.subnet;
    if (input.network !== undefined) out += `FLANNEL_NETWORK=${formatIPv4Cidr(masked4(input.network))}\n`;
    out += `FLANNEL_SUBNET=${formatIPv4((maskIPv4(sn.ip, sn.prefix) + 1) >>> 0)}/${sn.prefix}\n`;
  }
  if (input.ipv6Subnet !== undefined) {
    const sn = input.ipv6Subnet;
    if (input.ipv6Network !== undefined) {
      out += `FLANNEL_IPV6_NETWORK=${formatIPv6Cidr(masked6(input.ipv6Network))}\n`;
    }
    out += `FLANNEL_IPV6_SUBNET=${formatIPv6(maskIPv6(sn.ip, sn.prefix) + 1n)}/${sn.prefix}\n`;
  }
  out += `FLANNEL_MTU=${input.mtu}\n`;
  out += `FLANNEL_IPMASQ=${input.ipMasq}\n`;
  return out;
}

/**
 * Parses a subnet file's text. Tolerates what other writers add (comments, blank lines,
 * `export`, quotes, CRLF); a line that is not an assignment, or a FLANNEL_* value that
 * does not parse, is an `invalid` error naming the file and line.
 */
export function parseSubnetFile(text: string, source = "the subnet file"): SubnetFileContents {
  const values: Record<string, string> = {};
  const lineOf: Record<string, number> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? "").trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (m === null) {
      throw new PodnetError("invalid", `${source} line ${i + 1} is not KEY=value: ${JSON.stringify(line)}`);
    }
    const key = m[1] ?? "";
    values[key] = unquote(m[2] ?? "");
    lineOf[key] = i + 1;
  }
  const bad = (key: string, what: string): PodnetError =>
    new PodnetError(
      "invalid",
      `${source} line ${lineOf[key]}: ${key}=${values[key]} is not ${what}; fix or remove the file`,
    );
  const cidr4 = (key: string, example: string): IPv4Net | undefined => {
    const v = values[key];
    if (v === undefined || v === "") return undefined;
    const net = parseIPv4Cidr(v);
    if (net === null) throw bad(key, `an IPv4 CIDR like ${example}`);
    return net;
  };
  const cidr6 = (key: string, example: string): IPv6Net | undefined => {
    const v = values[key];
    if (v === undefined || v === "") return undefined;
    const net = parseIPv6Cidr(v);
    if (net === null) throw bad(key, `an IPv6 CIDR like ${example}`);
    return net;
  };
  const network = cidr4("FLANNEL_NETWORK", "10.5.0.0/16");
  const subnet = cidr4("FLANNEL_SUBNET", "10.5.52.1/24");
  const ipv6Network = cidr6("FLANNEL_IPV6_NETWORK", "fc00::/48");
  const ipv6Subnet = cidr6("FLANNEL_IPV6_SUBNET", "fc00:0:0:34::1/64");
  let mtu: number | undefined;
  const mtuText = values["FLANNEL_MTU"];
  if (mtuText !== undefined && mtuText !== "") {
    if (!/^\d{1,5}$/.test(mtuText) || Number(mtuText) > 65_535) throw bad("FLANNEL_MTU", "an MTU like 1450");
    mtu = Number(mtuText);
  }
  let ipMasq: boolean | undefined;
  const masqText = values["FLANNEL_IPMASQ"];
  if (masqText !== undefined && masqText !== "") {
    if (masqText !== "true" && masqText !== "false") throw bad("FLANNEL_IPMASQ", "true or false");
    ipMasq = masqText === "true";
  }
  return {
    values,
    ...(network && { network }),
    ...(subnet && { subnet }),
    ...(ipv6Network && { ipv6Network }),
    ...(ipv6Subnet && { ipv6Subnet }),
    ...(mtu !== undefined && { mtu }),
    ...(ipMasq !== undefined && { ipMasq }),
    previousSubnet: () => previousSubnetOf(subnet, ipv6Subnet),
  };
}

/** The lease a file's subnets name; IPv6-only leases carry flannel's zero IPv4 network. */
function previousSubnetOf(subnet?: IPv4Net, ipv6Subnet?: IPv6Net): LeaseSubnet | undefined {
  const ipv6 = ipv6Subnet && masked6(ipv6Subnet);
  if (subnet !== undefined) return { ipv4: masked4(subnet), ...(ipv6 && { ipv6 }) };
  return ipv6 && { ipv4: { ip: 0, prefix: 0 }, ipv6 };
}

/** Reads a subnet file; undefined when it does not exist. */
export async function readSubnetFile(path: string): Promise<SubnetFileContents | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
    if (code === "ENOENT") return undefined;
    const why = code === "EISDIR" ? "it is a directory" : code === "EACCES" ? "permission denied" : code;
    throw new PodnetError("failed", `cannot read the subnet file ${path}: ${why}`);
  }
  return parseSubnetFile(text, path);
}

/**
 * Writes the subnet file atomically: a temporary file in the same directory, fsync, mode
 * 0644, rename over the target (so readers see the old file or the new one, never half),
 * then fsync of the directory. Creates the directory when missing.
 */
export async function writeSubnetFile(path: string, input: SubnetFileInput): Promise<void> {
  const text = formatSubnetFile(input);
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  let created = false;
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const file = await open(temp, "wx", 0o644);
    created = true;
    try {
      await file.writeFile(text, "utf8");
      await file.sync();
    } finally {
      await file.close();
    }
    await chmod(temp, 0o644); // the umask may have narrowed it
    await rename(temp, path);
    created = false;
    await syncDirectory(dir);
  } catch (err) {
    if (created) await unlink(temp).catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : "failed");
    const why = code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : code;
    throw new PodnetError("failed", `cannot write the subnet file ${path}: ${why}`);
  }
}

async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // some file systems refuse fsync on a directory; the rename is still atomic
  }
}

function unquote(value: string): string {
  const v = value.trim();
  if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v[v.length - 1] === v[0]) return v.slice(1, -1);
  const hash = v.search(/\s#/); // a trailing comment after whitespace, as a shell reads it
  return hash >= 0 ? v.slice(0, hash).trimEnd() : v;
}

function masked4(net: IPv4Net): IPv4Net {
  return { ip: maskIPv4(net.ip, net.prefix), prefix: net.prefix };
}

function masked6(net: IPv6Net): IPv6Net {
  return { ip: maskIPv6(net.ip, net.prefix), prefix: net.prefix };
}
