/*
 * InfluxDB line protocol, strictly: `measurement[,tag=value...] field=value[,field=value...] [timestamp]`
 * per line, `#` comments and blank lines skipped. No maintained npm parser exists (only serializers and
 * parsers unpublished since 2019), so this one follows InfluxDB's own rules: escapes per element
 * (`\,` `\ ` in measurements; `\,` `\=` `\ ` in keys and tag values; `\"` `\\` in strings, which may span
 * lines), floats, 42i (int64), 42u (uint64), t/T/true/True/TRUE and f/F/false/False/FALSE, and an
 * optional integer timestamp. test/unit/line-protocol.test.ts checks it against the client's own serializer.
 */

export type FieldValue =
  | { readonly kind: 'float' | 'integer' | 'unsigned'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'boolean'; readonly value: boolean };

export interface Point {
  /** The line the point starts on (1-based). */
  readonly line: number;
  readonly measurement: string;
  readonly tags: ReadonlyArray<readonly [string, string]>;
  readonly fields: ReadonlyArray<readonly [string, FieldValue]>;
  /** The timestamp's digits as sent (in the request's precision), or undefined. */
  readonly timestamp?: string;
}

/** A line that is not line protocol: its number and what is wrong with it. */
export class LineProtocolError extends Error {
  override readonly name = 'LineProtocolError';
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(`line ${line}: ${reason}`);
  }
}

const NL = 10;
const SPACE = 32;
const TAB = 9;
const COMMA = 44;
const EQUALS = 61;
const QUOTE = 34;
const BACKSLASH = 92;
const HASH = 35;

const FLOAT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+i$/;
const UNSIGNED = /^\d+u$/;
const TIMESTAMP = /^-?\d{1,19}$/;
const BOOLEANS: Readonly<Record<string, boolean>> = { t: true, T: true, true: true, True: true, TRUE: true, f: false, F: false, false: false, False: false, FALSE: false };
const INT64_MAX = '9223372036854775807';
const UINT64_MAX = '18446744073709551615';
const MAX_STRING = 64 * 1024;

/** Every point of a body, in order; the first line that is not line protocol throws LineProtocolError. */
export function parseLineProtocol(body: string): Point[] {
  const text = body.includes('\r') ? body.replace(/\r\n/g, '\n') : body;
  const cursor = new Cursor(text);
  const points: Point[] = [];
  while (cursor.skipBlankAndComments()) points.push(cursor.point());
  return points;
}

class Cursor {
  i = 0;
  line = 1;
  private start = 1;
  constructor(private readonly s: string) {}

  /** Moves to the next point's first character; false at the end. */
  skipBlankAndComments(): boolean {
    const { s } = this;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === NL) this.line++;
      else if (c === HASH) {
        const end = s.indexOf('\n', this.i);
        this.i = end === -1 ? s.length : end;
        continue;
      } else if (c !== SPACE && c !== TAB) return true;
      this.i++;
    }
    return false;
  }

  point(): Point {
    this.start = this.line;
    const measurement = this.name(true);
    if (measurement === '') this.fail('missing measurement');
    const tags: Array<[string, string]> = [];
    while (this.peek() === COMMA) {
      this.i++;
      tags.push(this.tag());
    }
    if (this.peek() !== SPACE) this.fail('missing fields');
    this.skipSpaces();
    const fields = this.fields();
    const timestamp = this.timestamp();
    return timestamp === undefined ? { line: this.start, measurement, tags, fields } : { line: this.start, measurement, tags, fields, timestamp };
  }

  private tag(): [string, string] {
    const key = this.name(false);
    if (key === '') this.fail('missing tag key');
    if (this.peek() !== EQUALS) this.fail(`missing tag value of tag ${quote(key)}`);
    this.i++;
    const value = this.name(false);
    if (value === '') this.fail(`missing tag value of tag ${quote(key)}`);
    return [key, value];
  }

  private fields(): Array<[string, FieldValue]> {
    const fields: Array<[string, FieldValue]> = [];
    for (;;) {
      const key = this.name(false);
      if (key === '') this.fail('missing field key');
      if (this.peek() !== EQUALS) this.fail(`missing field value of field ${quote(key)}`);
      this.i++;
      fields.push([key, this.value(key)]);
      if (this.peek() !== COMMA) return fields;
      this.i++;
    }
  }

  /** A measurement (`\,` `\ ` escaped) or a key or tag value (`\=` too), up to the next unescaped separator. */
  private name(measurement: boolean): string {
    const { s } = this;
    let out = '';
    let from = this.i;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === BACKSLASH && this.i + 1 < s.length) {
        const next = s.charCodeAt(this.i + 1);
        if (next === COMMA || next === SPACE || next === BACKSLASH || (!measurement && next === EQUALS)) {
          out += s.slice(from, this.i) + s[this.i + 1];
          this.i += 2;
          from = this.i;
          continue;
        }
      }
      if (c === COMMA || c === SPACE || c === NL || (!measurement && c === EQUALS)) break;
      this.i++;
    }
    return out + s.slice(from, this.i);
  }

  private value(key: string): FieldValue {
    if (this.peek() === QUOTE) return { kind: 'string', value: this.string(key) };
    const { s } = this;
    const from = this.i;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === COMMA || c === SPACE || c === NL) break;
      this.i++;
    }
    return scalar(s.slice(from, this.i), key, (reason) => this.fail(reason));
  }

  private string(key: string): string {
    const { s } = this;
    let out = '';
    let from = ++this.i;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === QUOTE) {
        out += s.slice(from, this.i++);
        if (out.length > MAX_STRING) this.fail(`string field ${quote(key)} is longer than ${MAX_STRING} characters`);
        return out;
      }
      if (c === BACKSLASH && (s.charCodeAt(this.i + 1) === QUOTE || s.charCodeAt(this.i + 1) === BACKSLASH)) {
        out += s.slice(from, this.i) + s[this.i + 1];
        this.i += 2;
        from = this.i;
        continue;
      }
      if (c === NL) this.line++;
      this.i++;
    }
    return this.fail(`unterminated string in field ${quote(key)}`);
  }

  private timestamp(): string | undefined {
    this.skipSpaces();
    const { s } = this;
    const end = s.indexOf('\n', this.i);
    const text = s.slice(this.i, end === -1 ? s.length : end).trimEnd();
    this.i = end === -1 ? s.length : end;
    if (text === '') return undefined;
    if (!TIMESTAMP.test(text)) this.fail(`invalid timestamp ${quote(text)}: expected an integer`);
    return text;
  }

  private peek(): number {
    return this.s.charCodeAt(this.i);
  }

  private skipSpaces(): void {
    while (this.peek() === SPACE || this.peek() === TAB) this.i++;
  }

  private fail(reason: string): never {
    throw new LineProtocolError(this.start, reason);
  }
}

/** A field value that is not a string: boolean, 42i, 42u or a float. */
function scalar(text: string, key: string, fail: (reason: string) => never): FieldValue {
  const bool = BOOLEANS[text];
  if (bool !== undefined && Object.hasOwn(BOOLEANS, text)) return { kind: 'boolean', value: bool };
  const last = text.charCodeAt(text.length - 1);
  if (last === 105 && INTEGER.test(text)) {
    const digits = text.slice(text[0] === '-' || text[0] === '+' ? 1 : 0, -1);
    const max = text[0] === '-' ? '9223372036854775808' : INT64_MAX;
    if (beyond(digits, max)) fail(`integer field ${quote(key)} is out of the int64 range`);
    return { kind: 'integer', value: Number(text.slice(0, -1)) };
  }
  if (last === 117 && UNSIGNED.test(text)) {
    if (beyond(text.slice(0, -1), UINT64_MAX)) fail(`unsigned field ${quote(key)} is out of the uint64 range`);
    return { kind: 'unsigned', value: Number(text.slice(0, -1)) };
  }
  if (FLOAT.test(text)) {
    const value = Number(text);
    if (!Number.isFinite(value)) fail(`float field ${quote(key)} is out of range`);
    return { kind: 'float', value };
  }
  return fail(`invalid value ${quote(text)} of field ${quote(key)}: expected a float, 42i, 42u, a boolean or a "string"`);
}

/** Whether a string of decimal digits is a larger number than `max`. */
function beyond(digits: string, max: string): boolean {
  const trimmed = digits.replace(/^0+(?=\d)/, '');
  return trimmed.length > max.length || (trimmed.length === max.length && trimmed > max);
}

/** A piece of the input in a message: quoted, at most 40 characters, printable ASCII. */
function quote(text: string): string {
  const cut = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  return JSON.stringify(cut).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
