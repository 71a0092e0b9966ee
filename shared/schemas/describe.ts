/** A short, safe description of a JSON value for error messages (never echoes long input). */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  switch (typeof value) {
    case 'string':
      return value.length <= 40 ? `string ${JSON.stringify(value)}` : `string of ${value.length} characters`;
    case 'number':
      return Number.isFinite(value) ? `number ${value}` : 'a non-finite number';
    case 'object':
      return 'object';
    default:
      return typeof value;
  }
}
