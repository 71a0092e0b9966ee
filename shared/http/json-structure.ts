import { visit } from 'jsonc-parser';
import { HttpError } from './errors.js';

const MAX_DEPTH = 32;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;

/**
 * Refuses what JSON.parse lets through: a key repeated in one object (JSON.parse keeps the last one
 * without a word) and nesting deeper than any event needs. `text` is valid JSON and `parsed` is what
 * JSON.parse made of it.
 *
 * The check is one pass over the characters that counts the properties written in the text, compared
 * with the keys of the parsed objects: a repeated key is the only way for them to differ. Only when
 * they do is the text walked again, with a full tokenizer, to name the key.
 */
export function checkStructure(text: string, parsed: unknown): void {
  const written = scan(text);
  if (written !== countKeys(parsed)) throw repeatedKey(text);
}

/** The number of object properties written in valid JSON text; throws when it nests too deep. */
function scan(text: string): number {
  let depth = 0;
  let properties = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // Skip the string: valid JSON has no raw quote inside one, only \" (and \\ before a real end).
      for (i++; text.charCodeAt(i) !== QUOTE; i++) if (text.charCodeAt(i) === BACKSLASH) i++;
    } else if (c === COLON) {
      properties++;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > MAX_DEPTH) throw new HttpError(400, 'malformed_json', `The body is nested deeper than ${MAX_DEPTH} levels`);
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
    }
  }
  return properties;
}

/** Own keys of every object in a parsed JSON value (nesting already bounded by scan). */
function countKeys(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  let keys = 0;
  if (Array.isArray(value)) {
    for (const item of value) keys += countKeys(item);
    return keys;
  }
  for (const key in value) {
    keys++;
    keys += countKeys((value as Record<string, unknown>)[key]);
  }
  return keys;
}

/** The error naming the first repeated key (the slow path: a tokenizer with a set of keys per object). */
function repeatedKey(text: string): HttpError {
  const objects: Array<Set<string>> = [];
  let repeated = '';
  visit(text, {
    onObjectBegin: () => {
      objects.push(new Set());
    },
    onObjectEnd: () => {
      objects.pop();
    },
    onObjectProperty: (name) => {
      const keys = objects[objects.length - 1]!;
      if (keys.has(name) && !repeated) repeated = name;
      keys.add(name);
    },
  });
  const shown = repeated.length > 64 ? `${repeated.slice(0, 64)}…` : repeated;
  return new HttpError(400, 'malformed_json', `The body repeats the key "${shown}" in one object`, { field: shown });
}
