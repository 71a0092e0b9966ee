import { z } from 'zod';

/** One validated event, normalised: the metrics in the order they were sent. */
export interface Reading {
  readonly deviceId: string;
  /** Event time, ms since the epoch. */
  readonly timestamp: number;
  readonly metrics: ReadonlyArray<readonly [name: string, value: number]>;
  /** The sender's id of the event: a resend with the same id within IDEMPOTENCY_TTL_SECONDS is not applied again. */
  readonly id?: string;
}

/** What was wrong with one field of one event (`index` is set for batches). */
export interface FieldIssue {
  index?: number;
  field: string;
  message: string;
}

export const DEFAULT_DEVICE = 'default';
export const MAX_METRICS_PER_EVENT = 32;
/** Values beyond this would overflow the squared deviations of a window. */
export const MAX_ABS_VALUE = 1e100;
const MAX_FUTURE_MS = 24 * 3600 * 1000;

export const DEVICE_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
export const METRIC_NAME = /^[a-z][a-z0-9_]{0,62}$/;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

export const DeviceId = z.string().regex(DEVICE_ID, 'must be 1-128 characters of [A-Za-z0-9_.:-]');
export const MetricName = z.string().regex(METRIC_NAME, 'must match ^[a-z][a-z0-9_]{0,62}$');

/** Query of GET /analyze. */
export const AnalyzeQuery = z.object({
  device: DeviceId.default(DEFAULT_DEVICE),
  metric: MetricName.optional(),
});
export type AnalyzeQuery = z.infer<typeof AnalyzeQuery>;

const Limit = (max: number, fallback: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be at least 1').max(max, `must be at most ${max}`))
    .default(fallback);

/** Query of GET /anomalies. */
export const AnomaliesQuery = (maxLimit: number) =>
  z.object({
    limit: Limit(maxLimit, Math.min(50, maxLimit)),
    device: DeviceId.optional(),
  });
export type AnomaliesQuery = z.infer<ReturnType<typeof AnomaliesQuery>>;

/** Query of GET /devices. */
export const DevicesQuery = z.object({ limit: Limit(10_000, 100) });
export type DevicesQuery = z.infer<typeof DevicesQuery>;

/**
 * The body of a batch: an array of events, or `{"metrics": [...]}` as the source services accepted.
 * The events themselves are checked by `parseEvents`, which names every bad index and field.
 */
export const BatchBody = z.union([z.array(z.unknown()), z.object({ metrics: z.array(z.unknown()) })]);

/** Whether a JSON body is a batch rather than one event. */
export function isBatch(body: unknown): body is unknown[] | { metrics: unknown[] } {
  return BatchBody.safeParse(body).success;
}

/** The events of a batch body (checked with `isBatch` first). */
export function batchEvents(body: unknown[] | { metrics: unknown[] }): unknown[] {
  return Array.isArray(body) ? body : body.metrics;
}

/**
 * Validates one event. Metric fields are open-ended keys, so this is a direct loop rather than a
 * zod object: it runs for every value on the hot path and names each bad field exactly.
 */
export function parseEvent(raw: unknown, now: number, issues: FieldIssue[], index?: number): Reading | undefined {
  const at = (key: string, message: string) => {
    // A key can be as long as the body: never echo more than a glimpse of it.
    const field = key.length > 64 ? `${key.slice(0, 64)}…` : key;
    issues.push(index === undefined ? { field, message } : { index, field, message });
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    at('(event)', `must be a JSON object (got ${describe(raw)})`);
    return undefined;
  }
  const before = issues.length;
  const fields = raw as Record<string, unknown>;
  let deviceId = DEFAULT_DEVICE;
  let timestamp = now;
  let id: string | undefined;
  const metrics: Array<[string, number]> = [];

  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (key === 'timestamp') {
      const parsed = parseTimestamp(value, now);
      if (typeof parsed === 'string') at(key, parsed);
      else timestamp = parsed;
    } else if (key === 'device_id') {
      if (typeof value !== 'string' || !DEVICE_ID.test(value)) {
        at(key, `must be a string of 1-128 characters of [A-Za-z0-9_.:-] (got ${describe(value)})`);
      } else deviceId = value;
    } else if (key === 'id') {
      if (typeof value !== 'string' || value.length < 1 || value.length > 128) {
        at(key, `must be a string of 1-128 characters (got ${describe(value)})`);
      } else id = value;
    } else if (!METRIC_NAME.test(key)) {
      at(key, 'is not a valid metric name: must match ^[a-z][a-z0-9_]{0,62}$');
    } else if (typeof value !== 'number' || !Number.isFinite(value)) {
      at(key, `must be a finite JSON number (got ${describe(value)})`);
    } else if (Math.abs(value) > MAX_ABS_VALUE) {
      at(key, `must be within ±${MAX_ABS_VALUE} (got ${value})`);
    } else {
      metrics.push([key, value]);
    }
  }
  if (issues.length > before) return undefined;
  if (metrics.length === 0) {
    at('(event)', 'has no metric: send at least one numeric field such as "cpu"');
    return undefined;
  }
  if (metrics.length > MAX_METRICS_PER_EVENT) {
    at('(event)', `has ${metrics.length} metrics; at most ${MAX_METRICS_PER_EVENT} are allowed`);
    return undefined;
  }
  return id === undefined ? { deviceId, timestamp, metrics } : { deviceId, timestamp, metrics, id };
}

/** Validates every event of a batch; returns the readings only when all of them are valid. */
export function parseEvents(raws: readonly unknown[], now: number, issues: FieldIssue[]): Reading[] | undefined {
  const readings: Reading[] = [];
  raws.forEach((raw, index) => {
    const reading = parseEvent(raw, now, issues, index);
    if (reading) readings.push(reading);
  });
  return issues.length === 0 ? readings : undefined;
}

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

/** A short, safe description of a JSON value for error messages (never echoes long input). */
function describe(value: unknown): string {
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
