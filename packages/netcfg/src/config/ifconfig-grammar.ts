/**
 * `podnet ifconfig`'s setting grammar: ifconfig-style words (`flannel.1 10.5.0.0/16 subnetlen 24
 * vxlan vni 1 port 8472 -gbp directrouting`) turned into a network config document, applied on
 * top of the stored one so that unnamed keys keep their values, spelling and layout. Pure: the
 * validator judges the result; only the words themselves can be wrong here (usage errors).
 */
import { checkCidr, checkNetmask, PodnetError, parseIPv4, parseIPv6, parseIPv6Cidr } from "@podnet/ipam-core";
import { closestKey } from "./keys.js";
import { BACKEND_TYPES, type BackendType } from "./schema.js";

/** A backend option word and the backend field it sets, per backend type. */
export type OptionWord = "vni" | "port" | "mtu" | "gbp" | "learning" | "directrouting";

const OPTION_FIELDS: Readonly<Record<OptionWord, Partial<Record<BackendType, string>>>> = {
  vni: { vxlan: "VNI" },
  port: { vxlan: "Port", udp: "Port", wireguard: "ListenPort" },
  mtu: { vxlan: "MTU", wireguard: "MTU" },
  gbp: { vxlan: "GBP" },
  learning: { vxlan: "Learning" },
  directrouting: { vxlan: "DirectRouting", ipip: "DirectRouting" },
};

/** Words that take a value, and the top-level field each sets. */
const VALUE_WORDS = {
  subnetlen: "SubnetLen",
  min: "SubnetMin",
  max: "SubnetMax",
  ipv6: "IPv6Network",
  ipv6subnetlen: "IPv6SubnetLen",
  ipv6min: "IPv6SubnetMin",
  ipv6max: "IPv6SubnetMax",
} as const;
type ValueWord = keyof typeof VALUE_WORDS;

/** Words that switch a top-level flag on (`word`) or off (`-word`). */
const TOP_FLAGS = { ipv4: "EnableIPv4", ipv6: "EnableIPv6", nftables: "EnableNFTables" } as const;

/** Every keyword, for "did you mean". */
const KEYWORDS: readonly string[] = [
  ...Object.keys(VALUE_WORDS),
  ...Object.keys(OPTION_FIELDS),
  ...["-gbp", "-learning", "-directrouting", "-ipv4", "-ipv6", "-nftables", "ipv4", "nftables", "netmask"],
  ...BACKEND_TYPES,
];

/** One setting the words asked for, in word order. */
export type IfconfigSetting =
  | { readonly kind: "top"; readonly field: string; readonly value: string | number | boolean }
  | { readonly kind: "option"; readonly word: OptionWord; readonly value: number | boolean };

/** What a line of ifconfig words says, before it meets the stored document. */
export interface IfconfigWords {
  /** The VNI a leading `flannel.<VNI>` named. */
  readonly deviceVni?: number;
  /** The backend type word, if one was given. */
  readonly type?: BackendType;
  readonly settings: readonly IfconfigSetting[];
}

/** The overlay device a word names: `flannel.<VNI>` or `flannel-v6.<VNI>`; undefined otherwise. */
export function parseDeviceName(word: string): { vni: number; ipv6: boolean } | undefined {
  const m = /^flannel(-v6)?\.(\d{1,9})$/.exec(word);
  if (m === null) return undefined;
  return { vni: Number(m[2]), ipv6: m[1] !== undefined };
}

/** Parses ifconfig words; a usage error names the first word that makes no sense. */
export function parseIfconfigWords(words: readonly string[]): IfconfigWords {
  const settings: IfconfigSetting[] = [];
  let deviceVni: number | undefined;
  let type: BackendType | undefined;
  let vni: number | undefined;
  for (let i = 0; i < words.length; i++) {
    const raw = words[i] ?? "";
    const word = raw.toLowerCase();
    const next = (what: string): string => {
      const value = words[i + 1];
      if (value === undefined) throw usage(`"${raw}" needs ${what} after it`);
      i++;
      return value;
    };
    const device = i === 0 ? parseDeviceName(raw) : undefined;
    if (device !== undefined) {
      deviceVni = device.vni;
      continue;
    }
    if (word === "ipv6" && words[i + 1] !== undefined && parseIPv6Cidr(words[i + 1] ?? "") !== null) {
      const value = next("an IPv6 CIDR");
      settings.push(top("EnableIPv6", true), top("IPv6Network", value));
      continue;
    }
    // ifconfig's own spelling: `10.5.0.0 netmask 255.255.0.0`.
    if (parseIPv4(raw) !== null && words[i + 1]?.toLowerCase() === "netmask") {
      i++;
      const mask = next("a netmask such as 255.255.0.0");
      const prefix = checkNetmask(mask);
      if (typeof prefix === "string") throw usage(prefix);
      settings.push(top("Network", `${raw}/${prefix}`));
      continue;
    }
    if (word in VALUE_WORDS && word !== "ipv6") {
      const field = VALUE_WORDS[word as ValueWord];
      const v6 = word.startsWith("ipv6");
      if (v6) settings.push(top("EnableIPv6", true));
      if (word.endsWith("subnetlen")) {
        settings.push(top(field, integer(raw, next("a prefix length"))));
      } else {
        const value = next(v6 ? "an IPv6 address" : "an IPv4 address");
        if ((v6 ? parseIPv6(value) : parseIPv4(value)) === null) {
          throw usage(
            `"${raw}" needs an ${v6 ? "IPv6 address like fc00:0:0:1::" : "IPv4 address like 10.5.1.0"}, not "${value}"`,
          );
        }
        settings.push(top(field, value));
      }
      continue;
    }
    const flag = /^(-?)(ipv4|ipv6|nftables)$/.exec(word);
    if (flag !== null) {
      settings.push(top(TOP_FLAGS[flag[2] as keyof typeof TOP_FLAGS], flag[1] === ""));
      continue;
    }
    const option = /^(-?)(vni|port|mtu|gbp|learning|directrouting)$/.exec(word);
    if (option !== null) {
      const name = option[2] as OptionWord;
      const negated = option[1] === "-";
      if (name === "vni" || name === "port" || name === "mtu") {
        if (negated) throw usage(`"${raw}" is not a word; "${name}" takes a number`);
        const value = integer(raw, next("a number"));
        if (name === "vni") vni = value;
        settings.push({ kind: "option", word: name, value });
      } else {
        settings.push({ kind: "option", word: name, value: !negated });
      }
      continue;
    }
    if ((BACKEND_TYPES as readonly string[]).includes(word)) {
      if (type !== undefined && type !== word) {
        throw usage(`two backend types given, ${type} and ${word}; give one`);
      }
      type = word as BackendType;
      continue;
    }
    if (raw.includes("/") || parseIPv4(raw) !== null || parseIPv6(raw) !== null) {
      const typed = checkCidr(raw);
      if (typeof typed === "string") throw usage(typed);
      if (typed.family === 4) settings.push(top("Network", raw));
      else settings.push(top("EnableIPv6", true), top("IPv6Network", raw));
      continue;
    }
    throw usage(unknownWordMessage(raw, i));
  }
  if (deviceVni !== undefined) {
    const name = words[0] ?? "";
    if (vni !== undefined && vni !== deviceVni) {
      throw usage(
        `${name} names VNI ${deviceVni} but "vni ${vni}" was given; use flannel.${vni} or drop the name`,
      );
    }
    if (type !== undefined && type !== "vxlan") {
      throw usage(`${name} is a vxlan device but the backend given is ${type}; drop the name for ${type}`);
    }
  }
  return { ...(deviceVni !== undefined && { deviceVni }), ...(type && { type }), settings };
}

/** The document and its text after applying ifconfig words on top of the stored one. */
export interface IfconfigDocument {
  readonly document: Record<string, unknown>;
  /** Serialised in the stored document's layout (compact when there was none). */
  readonly text: string;
}

/**
 * Applies parsed words on top of the stored document's text (undefined: none stored, start
 * from scratch). Keys the words do not name keep their values and spelling; new top-level
 * keys go before Backend. Throws an `invalid` error when the stored text is not a JSON object,
 * and a `usage` error when an option does not apply to the backend.
 */
export function applyIfconfigWords(parsed: IfconfigWords, currentText?: string): IfconfigDocument {
  const doc = currentText === undefined ? {} : parseStored(currentText);
  const backendKey = findKey(doc, "Backend");
  const stored = backendKey === undefined ? undefined : doc[backendKey];
  let backend: Record<string, unknown> | undefined = isObject(stored) ? { ...stored } : undefined;
  const storedType = backend === undefined ? undefined : typeOf(backend);

  const hasOptions = parsed.settings.some((s) => s.kind === "option");
  // A device name means vxlan; so do backend options with no backend stored or named.
  const wanted: string | undefined =
    parsed.type ??
    (parsed.deviceVni !== undefined ? "vxlan" : undefined) ??
    (hasOptions && storedType === undefined && backend === undefined ? "vxlan" : undefined);
  if (wanted !== undefined && (backend === undefined || storedType !== wanted)) {
    backend = { Type: wanted }; // another backend's fields would not apply
  }
  const type = typeOf(backend ?? {}) ?? storedType;
  // A name that is not the stored network's device is a mistake, not a request to change the VNI
  // (`ifconfig flannel.2 mtu 1400` on a VNI-1 network); "vni N" changes it, and names may follow.
  if (parsed.deviceVni !== undefined && storedType === "vxlan" && isObject(stored)) {
    const vniKey = findKey(stored, "VNI");
    const storedVni = vniKey === undefined ? 1 : stored[vniKey];
    const setsVni = parsed.settings.some((s) => s.kind === "option" && s.word === "vni");
    if (typeof storedVni === "number" && storedVni !== parsed.deviceVni && !setsVni) {
      throw usage(
        `flannel.${parsed.deviceVni} is not this network's device: its VNI is ${storedVni}, so flanneld makes flannel.${storedVni}; name flannel.${storedVni}, or give "vni ${parsed.deviceVni}" to change the VNI`,
      );
    }
  }

  for (const s of parsed.settings) {
    if (s.kind === "top") {
      setTop(doc, s.field, s.value);
      continue;
    }
    const field = type === undefined ? undefined : OPTION_FIELDS[s.word][type as BackendType];
    if (field === undefined || backend === undefined) {
      const owners = Object.keys(OPTION_FIELDS[s.word]).join(" or ");
      throw usage(`"${s.word}" does not apply to the ${type ?? "stored"} backend; it is a ${owners} setting`);
    }
    setKey(backend, field, s.value);
  }
  if (parsed.deviceVni !== undefined && backend !== undefined) {
    const vniKey = findKey(backend, "VNI");
    const current = vniKey === undefined ? 1 : backend[vniKey];
    if (current !== parsed.deviceVni) setKey(backend, "VNI", parsed.deviceVni);
  }
  if (backend !== undefined) setTop(doc, "Backend", backend);
  return { document: doc, text: serializeLike(doc, currentText) };
}

/** parseIfconfigWords and applyIfconfigWords in one step. */
export function ifconfigDocument(words: readonly string[], currentText?: string): IfconfigDocument {
  return applyIfconfigWords(parseIfconfigWords(words), currentText);
}

function top(field: string, value: string | number | boolean): IfconfigSetting {
  return { kind: "top", field, value };
}

function usage(message: string): PodnetError {
  return new PodnetError("usage", message);
}

function integer(word: string, value: string): number {
  if (!/^\d{1,10}$/.test(value)) throw usage(`"${word}" needs a whole number, not "${value}"`);
  return Number(value);
}

function unknownWordMessage(word: string, index: number): string {
  const base = `unknown word "${word}"`;
  if (/^flannel/i.test(word)) {
    return index === 0
      ? `${base}: the device name is flannel.<VNI>, like flannel.1`
      : `${base}: the device name flannel.<VNI> may only come first`;
  }
  const guess = closestKey(word, KEYWORDS);
  if (guess !== undefined) return `${base}; did you mean "${guess}"?`;
  return `${base}; expected a CIDR, subnetlen, min, max, ipv6, a backend type (${BACKEND_TYPES.join(", ")}) or a backend option (vni, port, mtu, [-]gbp, [-]learning, [-]directrouting)`;
}

function parseStored(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (!isObject(value)) {
    throw new PodnetError(
      "invalid",
      "the stored network config is not a JSON object, so there is nothing to change; replace it with 'podnet config set FILE'",
    );
  }
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function typeOf(backend: Record<string, unknown>): string | undefined {
  const key = findKey(backend, "Type");
  const t = key === undefined ? undefined : backend[key];
  return typeof t === "string" ? t.toLowerCase() : undefined;
}

/** The key of `obj` that matches `field` ignoring case (the last one, as flannel reads it). */
function findKey(obj: Record<string, unknown>, field: string): string | undefined {
  const lower = field.toLowerCase();
  return Object.keys(obj).findLast((k) => k.toLowerCase() === lower);
}

/** Sets a field in place under its existing spelling, or appends it. */
function setKey(obj: Record<string, unknown>, field: string, value: unknown): void {
  obj[findKey(obj, field) ?? field] = value;
}

/** Sets a top-level field in place, or inserts it before Backend so Backend stays last. */
function setTop(doc: Record<string, unknown>, field: string, value: unknown): void {
  const existing = findKey(doc, field);
  if (existing !== undefined) {
    doc[existing] = value;
    return;
  }
  const backendKey = findKey(doc, "Backend");
  if (backendKey === undefined) {
    doc[field] = value;
    return;
  }
  const entries = Object.entries(doc);
  for (const key of Object.keys(doc)) delete doc[key];
  for (const [k, v] of entries) {
    if (k === backendKey) doc[field] = value;
    doc[k] = v;
  }
}

/** How the stored text was laid out: indentation, and spaces after `:` and `,`. */
interface Layout {
  readonly indent: string;
  readonly colon: string;
  readonly comma: string;
  readonly newline: boolean;
}

function layoutOf(text: string | undefined): Layout {
  if (text === undefined) return { indent: "", colon: ":", comma: ",", newline: false };
  const indent = /\n([ \t]+)"/.exec(text)?.[1] ?? "";
  return {
    indent,
    colon: /"\s*:\s/.test(text) ? ": " : ":",
    comma: indent === "" && /,\s/.test(text) ? ", " : ",",
    newline: text.endsWith("\n"),
  };
}

/** Serialises the document as the stored text was written, so a diff shows only what changed. */
function serializeLike(doc: Record<string, unknown>, currentText: string | undefined): string {
  const layout = layoutOf(currentText);
  const colon = layout.indent === "" ? layout.colon : ": ";
  const write = (value: unknown, depth: number): string => {
    const nested = Array.isArray(value) || isObject(value);
    if (!nested) return JSON.stringify(value) ?? "null";
    const items = Array.isArray(value)
      ? value.map((v) => write(v, depth + 1))
      : Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}${colon}${write(v, depth + 1)}`);
    const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
    if (items.length === 0) return `${open}${close}`;
    if (layout.indent === "") return `${open}${items.join(layout.comma)}${close}`;
    const pad = layout.indent.repeat(depth + 1);
    return `${open}\n${items.map((item) => `${pad}${item}`).join(",\n")}\n${layout.indent.repeat(depth)}${close}`;
  };
  return `${write(doc, 0)}${layout.newline ? "\n" : ""}`;
}
