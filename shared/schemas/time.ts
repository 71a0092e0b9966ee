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

const DAY_MS = 86_400_000;
/** Year 10000: from there toISOString writes six-digit years. */
const FOUR_DIGIT_YEARS_MS = 253_402_300_800_000;
let dayCached = Number.NaN;
let dayText = '';

/**
 * How every time is shown by the API: ISO-8601 in UTC with milliseconds, as toISOString writes it.
 * Stored times are ms numbers. A batch's answer formats several times per alert and anomaly, mostly of
 * one day: the day's text is kept and the time of day written here, about five times faster than a Date.
 */
export function apiTime(ms: number | string): string {
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 0 || ms >= FOUR_DIGIT_YEARS_MS) return new Date(ms).toISOString();
  const day = Math.floor(ms / DAY_MS);
  if (day !== dayCached) {
    dayCached = day;
    dayText = new Date(day * DAY_MS).toISOString().slice(0, 11);
  }
  let rest = ms - day * DAY_MS;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = Math.floor(rest / 1000);
  return `${dayText}${pad(h, 2)}:${pad(m, 2)}:${pad(s, 2)}.${pad(rest - s * 1000, 3)}Z`;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');
