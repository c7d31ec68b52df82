/**
 * The `Backend` object: its Type (case-insensitive, as flanneld lower-cases it), its fields by
 * backend, their types and defaults, and the per-backend rules. Without a Backend flannel
 * uses udp, whatever its docs say.
 */
import {
  childPointer,
  type Diagnostic,
  describeValue,
  error,
  issueDiagnostics,
  warning,
} from "./diagnostic.js";
import { closestKey, type Elsewhere, matchKeys } from "./keys.js";
import {
  BACKEND_SCHEMAS,
  BACKEND_TYPES,
  type BackendType,
  backendKeys,
  CONFIG_KEYS,
  type ResolvedBackend,
} from "./schema.js";
import { checkVxlan, WINDOWS_VXLAN_DEFAULTS } from "./vxlan.js";

/** The shortest PSK flannel's ipsec backend accepts. */
const IPSEC_MIN_PSK = 96;

/** What the backend rules need to know about the rest of the document and the host. */
export interface BackendContext {
  readonly enableIPv6: boolean;
  readonly target: "linux" | "windows";
}

/** The resolved backend (when its type and fields could be read) and what was found. */
export interface BackendResolution {
  readonly backend?: ResolvedBackend;
  readonly diagnostics: Diagnostic[];
}

/** Reads the `Backend` value found at `path`; `present` is false when the document has none. */
export function resolveBackend(
  present: boolean,
  raw: unknown,
  path: string,
  ctx: BackendContext,
): BackendResolution {
  if (!present) {
    return {
      backend: { Type: "udp", Port: 8285 },
      diagnostics: [
        warning(
          path,
          'no Backend given: flannel then uses the udp backend (not vxlan, as its docs claim), which is for debugging only; add "Backend": {"Type": "vxlan"}',
        ),
      ],
    };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return {
      diagnostics: [
        error(
          path,
          `Backend must be an object with a Type such as {"Type": "vxlan"}, not ${describeValue(raw)}`,
        ),
      ],
    };
  }
  const typeKey = Object.keys(raw).findLast((k) => k.toLowerCase() === "type");
  const typeValue: unknown = typeKey === undefined ? undefined : Reflect.get(raw, typeKey);
  const known = `known types are ${BACKEND_TYPES.join(", ")}`;
  if (typeKey === undefined || typeValue === null || typeValue === "") {
    return { diagnostics: [error(path, `Backend has no Type, so flanneld exits; ${known}`)] };
  }
  const typePath = childPointer(path, typeKey);
  if (typeof typeValue !== "string") {
    return {
      diagnostics: [
        error(typePath, `Type must be a string such as "vxlan", not ${describeValue(typeValue)}`),
      ],
    };
  }
  const type = BACKEND_TYPES.find((t) => t === typeValue.toLowerCase());
  if (type === undefined) {
    const close = closestKey(typeValue, BACKEND_TYPES);
    const hint = close === undefined ? "" : ` (did you mean \`${close}\`?)`;
    return { diagnostics: [error(typePath, `unknown backend type: ${typeValue}${hint}; ${known}`)] };
  }

  const matched = matchKeys(raw, backendKeys(type), path, elsewhereFor(type));
  const diagnostics: Diagnostic[] = [...matched.warnings];
  const at = (field: string): string => childPointer(path, matched.spelling.get(field) ?? field);
  const given = new Set<string>();
  const input: Record<string, unknown> = {};
  for (const [field, value] of matched.values) {
    // Go's encoding/json leaves a field at its default when the value is null.
    if (field === "Type" || value === null) continue;
    input[field] = value;
    given.add(field);
  }
  if (type === "vxlan" && ctx.target === "windows") {
    for (const [field, value] of Object.entries(WINDOWS_VXLAN_DEFAULTS))
      if (!given.has(field)) input[field] = value;
  }
  input["Type"] = type;
  const parsed = BACKEND_SCHEMAS[type].safeParse(input, { jitless: true }); // once per run, as the document (validate.ts)
  if (!parsed.success) {
    return { diagnostics: [...diagnostics, ...issueDiagnostics(parsed.error.issues, at)] };
  }
  const backend: ResolvedBackend = parsed.data;
  diagnostics.push(...backendRules(backend, { ...ctx, at, given, path, typePath }));
  return { backend, diagnostics };
}

interface RuleContext extends BackendContext {
  readonly at: (field: string) => string;
  readonly given: ReadonlySet<string>;
  readonly path: string;
  readonly typePath: string;
}

function backendRules(backend: ResolvedBackend, ctx: RuleContext): Diagnostic[] {
  switch (backend.Type) {
    case "vxlan":
      return checkVxlan(backend, ctx);
    case "udp":
      return [
        warning(
          ctx.typePath,
          "the udp backend is for debugging only (slow, and amd64 only in flannel); use vxlan or host-gw in production",
        ),
      ];
    case "ipsec": {
      const length = backend.PSK?.length ?? 0;
      if (length >= IPSEC_MIN_PSK) return [];
      const what = backend.PSK === undefined ? "no PSK is given" : `the PSK has ${length} characters`;
      const where = backend.PSK === undefined ? ctx.path : ctx.at("PSK");
      return [
        error(where, `config error, password is too short: ${what}; flannel needs at least ${IPSEC_MIN_PSK}`),
      ];
    }
    default:
      return [];
  }
}

/** Hints for keys that belong to another backend, or to the top level of the document. */
function elsewhereFor(type: BackendType): Elsewhere {
  const own = new Set(backendKeys(type).map((k) => k.toLowerCase()));
  const hints = new Map<string, string>();
  for (const key of CONFIG_KEYS) {
    if (key !== "Backend")
      hints.set(key.toLowerCase(), `\`${key}\` belongs at the top level, not inside Backend`);
  }
  for (const other of BACKEND_TYPES) {
    for (const key of backendKeys(other)) {
      const lower = key.toLowerCase();
      if (!own.has(lower) && !hints.has(lower))
        hints.set(lower, `\`${key}\` is a field of the ${other} backend, not of ${type}`);
    }
  }
  return hints;
}

/** Every field name of any backend, for hints about keys misplaced at the top level. */
export function backendFieldNames(): string[] {
  const names = new Set<string>();
  for (const type of BACKEND_TYPES) for (const key of backendKeys(type)) names.add(key);
  return [...names];
}
