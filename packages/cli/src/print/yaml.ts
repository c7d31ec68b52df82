/**
 * The YAML serialiser, loaded on demand (`await import("./yaml.js")`). A static named import
 * here, not a dynamic `import("yaml")` at the caller: the bundler wraps the CommonJS `yaml`
 * package in a chunk whose namespace has only a default export, so a dynamic import's named
 * `stringify` was undefined in the shipped bundle ("i is not a function").
 */
import { stringify } from "yaml";
import { safeSerialise } from "./bounded.js";
import { isPlainObject, LazyArray } from "./output.js";

/** One YAML document for a JSON-shaped value (no anchors or aliases; long lines not folded). */
export function toYaml(value: unknown): string {
  return stringify(value, { aliasDuplicateObjects: false, lineWidth: 0 });
}

/**
 * {@link toYaml} in pieces, so a listing of 65,000 rows is written as it is produced: a
 * {@link LazyArray} at the top, or as a value of a plain top-level object, is written one
 * element at a time (each element's block indented under its key, as the whole document
 * would have it); anything else in one piece. Joined, the pieces are toYaml's text.
 */
export function* yamlChunks(value: unknown): Generator<string> {
  const one = (v: unknown) => safeSerialise(v, toYaml);
  if (value instanceof LazyArray) {
    yield* items(value, "");
    return;
  }
  if (!isPlainObject(value) || !Object.values(value).some((v) => v instanceof LazyArray)) {
    yield one(value);
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    if (!(v instanceof LazyArray) || v.length === 0) {
      const text = one({ [k]: v instanceof LazyArray ? [] : v });
      // A member JSON would leave out (undefined) is left out here too.
      if (text !== "{}\n") yield text;
      continue;
    }
    // The key's line as the whole document writes it: the member with an empty list, minus " []".
    yield `${one({ [k]: [] }).replace(/ \[\]\n$/, "")}\n`;
    yield* items(v, "  ");
  }

  function* items(list: LazyArray<unknown>, pad: string): Generator<string> {
    let any = false;
    for (const item of list.each()) {
      any = true;
      const text = one([item]);
      yield pad === "" ? text : text.replace(/^(?=.)/gm, pad);
    }
    if (!any) yield one([]);
  }
}
