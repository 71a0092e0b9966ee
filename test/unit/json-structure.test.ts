import { describe, expect, it } from 'vitest';
import { HttpError } from '../../shared/http/errors.js';
import { checkStructure } from '../../shared/http/json-structure.js';

const check = (text: string) => () => checkStructure(text, JSON.parse(text));
const refusal = (text: string): HttpError => {
  try {
    checkStructure(text, JSON.parse(text));
  } catch (error) {
    return error as HttpError;
  }
  throw new Error(`accepted: ${text}`);
};

describe('the structure check of JSON bodies', () => {
  it.each([
    '{"cpu": 1, "rps": 2}',
    '[{"device_id": "a:b", "cpu": 1}, {"device_id": "a", "cpu": 2}]',
    // colons, quotes, escaped quotes and backslashes inside strings are not properties
    '{"a\\":": "x:y\\\\", "b": "\\"c\\": 1", "c\\\\": {"d": ":"}}',
    '{"__proto__": {"x": 1}, "constructor": 2, "toString": {"__proto__": 3}}',
    '{"1": {"a": 1}, "a": {"1": 2}, "": ""}',
    '[[], {}, [{}], "{", "}", ":"]',
    '3',
    '"text: with colon"',
  ])('accepts %s', (text) => {
    expect(check(text)).not.toThrow();
  });

  it.each([
    ['{"cpu": 1, "cpu": 2}', 'cpu'],
    ['[{"cpu": 1}, {"rps": 1, "device_id": "a", "rps": 2}]', 'rps'],
    ['{"a": {"b": {"c": 1, "c": 1}}}', 'c'],
    ['{"__proto__": 1, "__proto__": 2}', '__proto__'],
    ['{"x:\\"y": 1, "x:\\"y": 2}', 'x:"y'],
    ['{"": 1, "": 2}', ''],
    // A key of a closed inner object is no repeat of the outer one's: the repeat here is "b".
    ['{"a": {"x": 1}, "x": 2, "b": 1, "b": 2}', 'b'],
  ])('refuses %s, naming the key', (text, key) => {
    const error = refusal(text);
    expect(error).toMatchObject({ status: 400, code: 'malformed_json', details: { field: key } });
    expect(error.message).toContain(`repeats the key "${key}"`);
  });

  it('refuses nesting deeper than 32 levels, and takes 32', () => {
    expect(check(`${'['.repeat(32)}${']'.repeat(32)}`)).not.toThrow();
    expect(refusal(`{"a": ${'['.repeat(32)}${']'.repeat(32)}}`).message).toContain('nested deeper than 32 levels');
  });
});
