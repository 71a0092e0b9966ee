import { describe } from './describe.js';

const MAX_FUTURE_MS = 24 * 3600 * 1000;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/** An ISO-8601 string or Unix epoch number (seconds; ms when > 1e12) → ms, or the reason it is refused. */
export function parseTimestamp(value: unknown, now: number): number | string {
  let ms: number;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return `must be a non-negative Unix time (got ${describe(value)})`;
    ms = Math.round(value > 1e12 ? value : value * 1000);
  } else if (typeof value === 'string') {
    const match = ISO_8601.exec(value);
    if (!match) return `must be an ISO-8601 date-time or a Unix time number (got ${describe(value)})`;
    // A date-time without an offset is taken as UTC, whatever the server's time zone.
    const text = match[1] || !value.includes(':') ? value : `${value}Z`;
    ms = Date.parse(text.replace(' ', 'T'));
    if (Number.isNaN(ms) || ms < 0 || !isCalendarDate(value)) return `is not a valid date-time (got ${describe(value)})`;
  } else {
    return `must be an ISO-8601 string or a Unix time number (got ${describe(value)})`;
  }
  if (ms > now + MAX_FUTURE_MS) return 'is more than 24 hours in the future';
  return ms;
}

/** Date.parse rolls 2024-02-30 over to March; a real calendar day is required. */
function isCalendarDate(text: string): boolean {
  const [y, m, d] = text.slice(0, 10).split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d)).getUTCDate() === d;
}

/** How every time is shown by the API: ISO-8601 in UTC with milliseconds. Stored times are ms numbers. */
export function apiTime(ms: number | string): string {
  return new Date(ms).toISOString();
}
