/**
 * A JSON parser that accepts exactly what JSON.parse accepts and also tells where things are:
 * the line and column of a syntax error, the position of every value by JSON pointer, and
 * the keys that appear twice in one object (JSON.parse silently keeps the last).
 */
import { childPointer } from "./diagnostic.js";

/** A 1-based line and column (columns count UTF-16 code units, as editors mostly do). */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/** A parsed JSON text, or where and why it is not JSON. */
export type JsonSource =
  | {
      readonly ok: true;
      readonly value: unknown;
      /** JSON pointer → position of the member's key (or of the value, for the root and array items). */
      readonly positions: ReadonlyMap<string, SourcePosition>;
      /** JSON pointers of keys that occur more than once in their object. */
      readonly duplicates: readonly string[];
    }
  | { readonly ok: false; readonly message: string; readonly position: SourcePosition };

/** Deeper nesting than any config needs; keeps the recursive descent off the stack limit. */
const MAX_DEPTH = 512;

const SIMPLE_ESCAPES = new Map([
  ['"', '"'],
  ["\\", "\\"],
  ["/", "/"],
  ["b", "\b"],
  ["f", "\f"],
  ["n", "\n"],
  ["r", "\r"],
  ["t", "\t"],
]);

class SyntaxFailure {
  constructor(
    readonly index: number,
    readonly message: string,
  ) {}
}

/** Parses `text` as JSON, with positions. Never throws. */
export function parseJsonSource(text: string): JsonSource {
  const parser = new Parser(text);
  try {
    const value = parser.document();
    return { ok: true, value, positions: parser.positions, duplicates: parser.duplicates };
  } catch (e) {
    if (!(e instanceof SyntaxFailure)) throw e;
    return { ok: false, message: e.message, position: positionOf(text, e.index) };
  }
}

/** The line and column of a character index in `text`. */
export function positionOf(text: string, index: number): SourcePosition {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < index && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: index - lineStart + 1 };
}

class Parser {
  readonly positions = new Map<string, SourcePosition>();
  readonly duplicates: string[] = [];
  private i = 0;
  private line = 1;
  private lineStart = 0;

  constructor(private readonly text: string) {}

  document(): unknown {
    this.skipSpace();
    const value = this.value("", 0, this.here());
    this.skipSpace();
    if (this.i < this.text.length) this.fail("unexpected text after the JSON value");
    return value;
  }

  private here(): SourcePosition {
    return { line: this.line, column: this.i - this.lineStart + 1 };
  }

  private fail(message: string, index = this.i): never {
    throw new SyntaxFailure(index, message);
  }

  private found(): string {
    if (this.i >= this.text.length) return "the text ended";
    const c = this.text[this.i] ?? "";
    return `found ${JSON.stringify(c)}`;
  }

  private skipSpace(): void {
    for (;;) {
      const c = this.text.charCodeAt(this.i);
      if (c === 10) {
        this.i++;
        this.line++;
        this.lineStart = this.i;
      } else if (c === 32 || c === 9 || c === 13) {
        this.i++;
      } else {
        return;
      }
    }
  }

  private value(pointer: string, depth: number, position: SourcePosition): unknown {
    this.positions.set(pointer, position);
    const c = this.text[this.i];
    switch (c) {
      case "{":
        return this.object(pointer, depth + 1);
      case "[":
        return this.array(pointer, depth + 1);
      case '"':
        return this.string();
      case "t":
        return this.literal("true", true);
      case "f":
        return this.literal("false", false);
      case "n":
        return this.literal("null", null);
      default:
        if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return this.number();
        return this.fail(`expected a value but ${this.found()}`);
    }
  }

  private literal<T>(word: string, value: T): T {
    if (this.text.startsWith(word, this.i)) {
      this.i += word.length;
      return value;
    }
    return this.fail(`expected a value but ${this.found()}`);
  }

  private object(pointer: string, depth: number): Record<string, unknown> {
    if (depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    this.i++; // {
    const out: Record<string, unknown> = {};
    const seen = new Set<string>();
    this.skipSpace();
    if (this.text[this.i] === "}") {
      this.i++;
      return out;
    }
    for (;;) {
      if (this.text[this.i] !== '"') {
        const trailing = this.text[this.i] === "}" ? " (a trailing comma is not allowed)" : "";
        this.fail(`expected a property name in double quotes but ${this.found()}${trailing}`);
      }
      const keyPosition = this.here();
      const key = this.string();
      this.skipSpace();
      if (this.text[this.i] !== ":") this.fail(`expected ':' after a property name but ${this.found()}`);
      this.i++;
      this.skipSpace();
      const child = childPointer(pointer, key);
      if (seen.has(key)) this.duplicates.push(child);
      seen.add(key);
      const value = this.value(child, depth, keyPosition);
      // An own "__proto__" property, as JSON.parse makes it, not the prototype setter.
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      this.skipSpace();
      const c = this.text[this.i];
      if (c === ",") {
        this.i++;
        this.skipSpace();
      } else if (c === "}") {
        this.i++;
        return out;
      } else {
        this.fail(`expected ',' or '}' after a property value but ${this.found()}`);
      }
    }
  }

  private array(pointer: string, depth: number): unknown[] {
    if (depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    this.i++; // [
    const out: unknown[] = [];
    this.skipSpace();
    if (this.text[this.i] === "]") {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(childPointer(pointer, out.length), depth, this.here()));
      this.skipSpace();
      const c = this.text[this.i];
      if (c === ",") {
        this.i++;
        this.skipSpace();
        if (this.text[this.i] === "]")
          this.fail('expected a value but found "]" (a trailing comma is not allowed)');
      } else if (c === "]") {
        this.i++;
        return out;
      } else {
        this.fail(`expected ',' or ']' after an array element but ${this.found()}`);
      }
    }
  }

  private number(): number {
    const match = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    match.lastIndex = this.i;
    const m = match.exec(this.text);
    if (m === null) {
      this.i++;
      return this.fail(`expected a digit but ${this.found()}`);
    }
    const end = this.i + m[0].length;
    const next = this.text[end];
    // "01", "1.", "1e" and "-" stop the pattern early; JSON.parse rejects what follows.
    if (next !== undefined && /[0-9.eE+-]/.test(next))
      this.fail(`malformed number ${JSON.stringify(m[0] + next)}`);
    this.i = end;
    return Number(m[0]);
  }

  private string(): string {
    const start = this.i;
    this.i++; // opening quote
    let out = "";
    let chunk = this.i;
    for (;;) {
      if (this.i >= this.text.length) this.fail("unterminated string", start);
      const c = this.text.charCodeAt(this.i);
      if (c === 34) {
        out += this.text.slice(chunk, this.i);
        this.i++;
        return out;
      }
      if (c < 32)
        this.fail("a control character (such as a raw line break) inside a string; write it as an escape");
      if (c !== 92) {
        this.i++;
        continue;
      }
      out += this.text.slice(chunk, this.i);
      const e = this.text[this.i + 1];
      const replacement = e === undefined ? undefined : SIMPLE_ESCAPES.get(e);
      if (replacement !== undefined) {
        out += replacement;
        this.i += 2;
      } else if (e === "u" && /^[0-9a-fA-F]{4}$/.test(this.text.slice(this.i + 2, this.i + 6))) {
        out += String.fromCharCode(Number.parseInt(this.text.slice(this.i + 2, this.i + 6), 16));
        this.i += 6;
      } else {
        this.fail("invalid escape sequence in a string");
      }
      chunk = this.i;
    }
  }
}
