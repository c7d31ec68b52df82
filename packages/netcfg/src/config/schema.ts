/**
 * The flannel network config document as zod schemas: one for the top-level fields, one per
 * backend. The input schemas carry flannel's defaults, so their output is the resolved form;
 * every static type is derived from a schema. Key case is normalised before parsing (keys.ts).
 */
import { parseIPv4, parseIPv6 } from "@podnet/ipam-core";
import * as z from "zod";
import { describeValue } from "./diagnostic.js";

/** A zod error parameter whose message reads "must be <what>, not <the value found>". */
function expected(what: string) {
  return { error: (issue: { input?: unknown }) => `must be ${what}, not ${describeValue(issue.input)}` };
}

const bool = () => z.boolean(expected("true or false"));

const uint = () => {
  const e = expected("an integer ≥ 0");
  return z.int(e).min(0, e);
};

const intRange = (min: number, max: number) => {
  const e = expected(`an integer from ${min} to ${max}`);
  return z.int(e).min(min, e).max(max, e);
};

const text = () => z.string(expected("a string"));

const cidr = (example: string) => z.string(expected(`a CIDR string such as "${example}"`));

const ipv4Address = () => {
  const e = expected('an IPv4 address such as "10.5.1.0"');
  return z.string(e).refine((s) => parseIPv4(s) !== null, e);
};

const ipv6Address = () => {
  const e = expected('an IPv6 address such as "fc00:0:0:1::"');
  return z.string(e).refine((s) => parseIPv6(s) !== null, e);
};

/** The top-level fields of the document except `Backend`, with flannel's defaults. */
export const networkDocumentSchema = z.object({
  Network: cidr("10.5.0.0/16").optional(),
  SubnetLen: uint().optional(),
  SubnetMin: ipv4Address().optional(),
  SubnetMax: ipv4Address().optional(),
  EnableIPv4: bool().default(true),
  EnableIPv6: bool().default(false),
  IPv6Network: cidr("fc00::/48").optional(),
  IPv6SubnetLen: uint().optional(),
  IPv6SubnetMin: ipv6Address().optional(),
  IPv6SubnetMax: ipv6Address().optional(),
  EnableNFTables: bool().default(false),
});

/** The typed top-level fields, defaults filled, before flannel's network rules ran. */
export type NetworkDocument = z.output<typeof networkDocumentSchema>;

/** Every top-level key flannel reads, canonically spelled. */
export const CONFIG_KEYS: readonly string[] = [...Object.keys(networkDocumentSchema.shape), "Backend"];

/** The backend types flanneld knows, lower-case as flannel registers them. */
export const BACKEND_TYPES = [
  "vxlan",
  "host-gw",
  "udp",
  "ipip",
  "wireguard",
  "ipsec",
  "alloc",
  "extension",
  "tencent-vpc",
] as const;

/** A backend type flanneld knows. */
export type BackendType = (typeof BACKEND_TYPES)[number];

/** flannel's IANA-unfriendly VXLAN default: port 0 means the kernel's 8472. */
export const VXLAN_KERNEL_PORT = 8472;
/** The IANA VXLAN port, the only one Windows flannel accepts. */
export const VXLAN_IANA_PORT = 4789;
/** The largest VNI the kernel accepts (24 bits). */
export const VXLAN_MAX_VNI = 16_777_215;
/** The default ESP proposal of flannel's ipsec backend. */
export const IPSEC_DEFAULT_ESP_PROPOSAL = "aes128gcm16-sha256-prfsha256-ecp256";

const macPrefix = () => {
  const e = expected('a MAC prefix of the form xx-xx such as "0E-2A"');
  return z.string(e).regex(/^[0-9A-Fa-f]{2}-[0-9A-Fa-f]{2}$/, e);
};

const wireguardKey = () => {
  const e = expected("a WireGuard key (44 characters of base64, as `wg genpsk` prints)");
  return z.string(e).regex(/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/, e);
};

/** Metadata of a field whose value is a secret: printed as `<redacted>` (see secrets.ts). */
export const SECRET = { secret: true } as const;

/** Marks a field's schema as a secret. */
const secret = <T extends z.ZodType>(schema: T): T => schema.meta(SECRET) as T;

/** `"Type": "vxlan"`; VNI and Port defaults are Linux's (Windows defaults are applied before parsing). */
export const vxlanBackendSchema = z.object({
  Type: z.literal("vxlan"),
  VNI: intRange(0, VXLAN_MAX_VNI).default(1),
  Port: intRange(0, 65_535).default(0),
  GBP: bool().default(false),
  Learning: bool().default(false),
  DirectRouting: bool().default(false),
  MTU: intRange(1, 65_535).optional(),
  MacPrefix: macPrefix().optional(),
});

/** `"Type": "host-gw"`: no fields. */
export const hostGwBackendSchema = z.object({ Type: z.literal("host-gw") });

/** `"Type": "udp"`: flannel's userspace tunnel, for debugging. */
export const udpBackendSchema = z.object({ Type: z.literal("udp"), Port: intRange(1, 65_535).default(8285) });

/** `"Type": "ipip"`. */
export const ipipBackendSchema = z.object({ Type: z.literal("ipip"), DirectRouting: bool().default(false) });

/** `"Type": "wireguard"`. */
export const wireguardBackendSchema = z.object({
  Type: z.literal("wireguard"),
  ListenPort: intRange(1, 65_535).default(51_820),
  ListenPortV6: intRange(1, 65_535).default(51_821),
  MTU: intRange(1, 65_535).optional(),
  PSK: secret(wireguardKey().optional()),
  PersistentKeepaliveInterval: uint().default(0),
  Mode: z
    .enum(["separate", "auto", "ipv4", "ipv6"], expected('one of "separate", "auto", "ipv4", "ipv6"'))
    .default("separate"),
});

/** `"Type": "ipsec"`; PSK is required, which the backend rules report in flannel's words. */
export const ipsecBackendSchema = z.object({
  Type: z.literal("ipsec"),
  PSK: secret(text().optional()),
  UDPEncap: bool().default(false),
  ESPProposal: text().default(IPSEC_DEFAULT_ESP_PROPOSAL),
});

/** `"Type": "alloc"`: leases only, no data plane. */
export const allocBackendSchema = z.object({ Type: z.literal("alloc") });

/** `"Type": "extension"`: shell commands run by flanneld. */
export const extensionBackendSchema = z.object({
  Type: z.literal("extension"),
  PreStartupCommand: text().optional(),
  PostStartupCommand: text().optional(),
  SubnetAddCommand: text().optional(),
  SubnetRemoveCommand: text().optional(),
});

/** `"Type": "tencent-vpc"`: no fields. */
export const tencentVpcBackendSchema = z.object({ Type: z.literal("tencent-vpc") });

/** One schema per backend type. */
export const BACKEND_SCHEMAS = {
  vxlan: vxlanBackendSchema,
  "host-gw": hostGwBackendSchema,
  udp: udpBackendSchema,
  ipip: ipipBackendSchema,
  wireguard: wireguardBackendSchema,
  ipsec: ipsecBackendSchema,
  alloc: allocBackendSchema,
  extension: extensionBackendSchema,
  "tencent-vpc": tencentVpcBackendSchema,
} as const satisfies Record<BackendType, z.ZodObject>;

/** A resolved `Backend`: canonical lower-case Type, canonical field names, defaults filled. */
export const resolvedBackendSchema = z.discriminatedUnion("Type", [
  vxlanBackendSchema,
  hostGwBackendSchema,
  udpBackendSchema,
  ipipBackendSchema,
  wireguardBackendSchema,
  ipsecBackendSchema,
  allocBackendSchema,
  extensionBackendSchema,
  tencentVpcBackendSchema,
]);

/** A resolved `Backend`. */
export type ResolvedBackend = z.output<typeof resolvedBackendSchema>;
/** A resolved VXLAN `Backend`. */
export type VxlanBackend = z.output<typeof vxlanBackendSchema>;

/**
 * The document as flanneld will use it: masked networks, derived SubnetLen/SubnetMin/SubnetMax,
 * IPv6 addresses in canonical compressed form. A disabled family's fields are omitted.
 */
export const resolvedConfigSchema = z.object({
  Network: z.string().optional(),
  SubnetLen: z.int().optional(),
  SubnetMin: z.string().optional(),
  SubnetMax: z.string().optional(),
  EnableIPv4: z.boolean(),
  EnableIPv6: z.boolean(),
  IPv6Network: z.string().optional(),
  IPv6SubnetLen: z.int().optional(),
  IPv6SubnetMin: z.string().optional(),
  IPv6SubnetMax: z.string().optional(),
  EnableNFTables: z.boolean(),
  Backend: resolvedBackendSchema,
});

/** The config as flanneld will use it (see resolvedConfigSchema). */
export type ResolvedConfig = z.output<typeof resolvedConfigSchema>;

/** The field names of each backend, canonically spelled, Type first. */
export function backendKeys(type: BackendType): readonly string[] {
  return Object.keys(BACKEND_SCHEMAS[type].shape);
}
