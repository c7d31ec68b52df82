/**
 * The validator's entry points: a config document (as text or as a parsed value) in,
 * diagnostics and the config as flanneld will resolve it out. Pure; never throws.
 */
import { formatIPv4, formatIPv4Cidr, formatIPv6, formatIPv6Cidr } from "@podnet/ipam-core";
import { backendFieldNames, resolveBackend } from "./backends.js";
import {
  childPointer,
  type Diagnostic,
  describeValue,
  error,
  issueDiagnostics,
  warning,
} from "./diagnostic.js";
import { parseJsonSource, type SourcePosition } from "./json-source.js";
import { matchKeys } from "./keys.js";
import { type FieldPointer, resolveNetwork } from "./network.js";
import { checkCapacity, checkFamilies, checkRangeOrder, checkUnderlay } from "./network-checks.js";
import { CONFIG_KEYS, networkDocumentSchema, type ResolvedConfig } from "./schema.js";

/** What the validator knows beyond the document itself. */
export interface ValidateOptions {
  /** The number of nodes the network must hold (`--nodes`). */
  nodes?: number;
  /** Networks of the hosts themselves (`--underlay`), as CIDRs; the pod networks must not overlap them. */
  underlay?: string[];
  /** The OS flanneld runs on; Windows has stricter VXLAN rules. Default linux. */
  target?: "linux" | "windows";
}

/** The validator's verdict. */
export interface ValidationResult {
  /** True when there are no errors (warnings allowed). */
  valid: boolean;
  errors: Diagnostic[];
  warnings: Diagnostic[];
  /** The config as flanneld will use it; present whenever no error stopped the resolution. */
  resolved?: ResolvedConfig;
}

/** Validates a config document given as JSON text; malformed JSON gives one error with its line and column. */
export function validateConfigText(text: string, opts: ValidateOptions = {}): ValidationResult {
  // A caller in plain JavaScript may hand over the parsed document: say what to do instead.
  if (typeof text !== "string") {
    const message = `the config must be JSON text, not ${describeValue(text)}; validateConfig takes a parsed document`;
    return { valid: false, errors: [error("", message)], warnings: [] };
  }
  const source = parseJsonSource(text);
  if (!source.ok) {
    const { line, column } = source.position;
    const diagnostic = {
      ...error("", `malformed JSON at line ${line}, column ${column}: ${source.message}`),
      line,
      column,
    };
    return { valid: false, errors: [diagnostic], warnings: [] };
  }
  const result = validateConfig(source.value, opts);
  for (const pointer of source.duplicates) {
    const key = pointer
      .slice(pointer.lastIndexOf("/") + 1)
      .replaceAll("~1", "/")
      .replaceAll("~0", "~");
    result.warnings.push(
      warning(
        pointer,
        `duplicate key ${JSON.stringify(key)}: only its last value counts, in JSON.parse and in flannel`,
      ),
    );
  }
  const locate = (d: Diagnostic): Diagnostic => {
    const position = nearestPosition(source.positions, d.path);
    return position === undefined ? d : { ...d, ...position };
  };
  return { ...result, errors: result.errors.map(locate), warnings: result.warnings.map(locate) };
}

/** Validates a parsed config document (any value: it is checked, never trusted). Never throws. */
export function validateConfig(doc: unknown, opts: ValidateOptions = {}): ValidationResult {
  const diagnostics: Diagnostic[] = [];
  let resolved: ResolvedConfig | undefined;
  try {
    resolved = run(doc, opts, diagnostics);
  } catch (e) {
    // A bug must surface as a diagnostic, not as a crash of the caller; the tests assert it never fires.
    resolved = undefined;
    diagnostics.push(
      error("", `internal error in the validator: ${e instanceof Error ? e.message : typeof e}`),
    );
  }
  const errors = diagnostics.filter((d) => d.severity === "error");
  const warnings = diagnostics.filter((d) => d.severity === "warning");
  return { valid: errors.length === 0, errors, warnings, ...(resolved && { resolved }) };
}

function run(doc: unknown, opts: ValidateOptions, out: Diagnostic[]): ResolvedConfig | undefined {
  const options = checkOptions(opts, out);
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    out.push(error("", `the network config must be a JSON object, not ${describeValue(doc)}`));
    return undefined;
  }
  const top = matchKeys(doc, CONFIG_KEYS, "", MISPLACED_BACKEND_FIELDS);
  out.push(...top.warnings);
  const at: FieldPointer = (field) => childPointer("", top.spelling.get(field) ?? field);

  const input: Record<string, unknown> = {};
  for (const [field, value] of top.values) {
    // Go's encoding/json leaves a field at its default when the value is null.
    if (field !== "Backend" && value !== null) input[field] = value;
  }
  // jitless: a document is parsed once per run, and zod's generated fast path costs more to build than it saves.
  const parsed = networkDocumentSchema.safeParse(input, { jitless: true });
  let network: Omit<ResolvedConfig, "Backend"> | undefined;
  if (!parsed.success) {
    out.push(...issueDiagnostics(parsed.error.issues, at));
  } else {
    const d = parsed.data;
    if (!d.EnableIPv4 && d.Network !== undefined) {
      out.push(warning(at("Network"), "Network is set but EnableIPv4 is false, so flannel ignores it"));
    }
    if (!d.EnableIPv6 && d.IPv6Network !== undefined) {
      out.push(
        warning(
          at("IPv6Network"),
          'IPv6Network is set but EnableIPv6 is false, so flannel ignores it; add "EnableIPv6": true',
        ),
      );
    }
    out.push(...checkFamilies(d.EnableIPv4, d.EnableIPv6, at));
    const r = resolveNetwork(d, at);
    if (!r.ok) {
      out.push(r.error);
    } else {
      const { v4, v6 } = r;
      out.push(...checkRangeOrder(v4, v6, at));
      if (options.nodes !== undefined) out.push(...checkCapacity(options.nodes, v4, v6, at));
      out.push(...checkUnderlay(options.underlay, v4, v6, at));
      network = {
        ...(v4 && {
          Network: formatIPv4Cidr(v4.net),
          SubnetLen: v4.subnetLen,
          SubnetMin: formatIPv4(v4.min),
          SubnetMax: formatIPv4(v4.max),
        }),
        EnableIPv4: d.EnableIPv4,
        EnableIPv6: d.EnableIPv6,
        ...(v6 && {
          IPv6Network: formatIPv6Cidr(v6.net),
          IPv6SubnetLen: v6.subnetLen,
          IPv6SubnetMin: formatIPv6(v6.min),
          IPv6SubnetMax: formatIPv6(v6.max),
        }),
        EnableNFTables: d.EnableNFTables,
      };
    }
  }

  const enableIPv6 = parsed.success ? parsed.data.EnableIPv6 : top.values.get("EnableIPv6") === true;
  const backend = resolveBackend(top.values.has("Backend"), top.values.get("Backend"), at("Backend"), {
    enableIPv6,
    target: options.target,
  });
  out.push(...backend.diagnostics);
  return network && backend.backend ? { ...network, Backend: backend.backend } : undefined;
}

interface CheckedOptions {
  nodes?: number;
  underlay: string[];
  target: "linux" | "windows";
}

/** Options come from flags; a bad one is reported at the root rather than thrown. */
function checkOptions(opts: ValidateOptions, out: Diagnostic[]): CheckedOptions {
  const checked: CheckedOptions = { underlay: [], target: "linux" };
  if (opts.nodes !== undefined) {
    if (Number.isSafeInteger(opts.nodes) && opts.nodes > 0) checked.nodes = opts.nodes;
    else out.push(error("", `the node count must be a positive integer, not ${describeValue(opts.nodes)}`));
  }
  if (opts.underlay !== undefined) {
    for (const cidr of Array.isArray(opts.underlay) ? opts.underlay : [opts.underlay]) {
      if (typeof cidr === "string") checked.underlay.push(cidr);
      else out.push(error("", `an underlay network must be a CIDR string, not ${describeValue(cidr)}`));
    }
  }
  if (opts.target === "windows") checked.target = "windows";
  else if (opts.target !== undefined && opts.target !== "linux") {
    out.push(error("", `the target must be "linux" or "windows", not ${describeValue(opts.target)}`));
  }
  return checked;
}

const MISPLACED_BACKEND_FIELDS: ReadonlyMap<string, string> = new Map(
  backendFieldNames().map((name) => [name.toLowerCase(), `\`${name}\` belongs inside Backend`]),
);

function nearestPosition(
  positions: ReadonlyMap<string, SourcePosition>,
  pointer: string,
): SourcePosition | undefined {
  let p = pointer;
  for (;;) {
    const found = positions.get(p);
    if (found !== undefined || p === "") return found;
    p = p.slice(0, p.lastIndexOf("/"));
  }
}
