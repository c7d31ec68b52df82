/**
 * The YAML serialiser, loaded on demand (`await import("./yaml.js")`). A static named import
 * here, not a dynamic `import("yaml")` at the caller: the bundler wraps the CommonJS `yaml`
 * package in a chunk whose namespace has only a default export, so a dynamic import's named
 * `stringify` was undefined in the shipped bundle ("i is not a function").
 */
import { stringify } from "yaml";

/** One YAML document for a JSON-shaped value (no anchors or aliases; long lines not folded). */
export function toYaml(value: unknown): string {
  return stringify(value, { aliasDuplicateObjects: false, lineWidth: 0 });
}
