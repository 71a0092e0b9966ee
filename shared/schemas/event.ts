import { z } from 'zod';
import { describe } from './describe.js';
import { DEFAULT_DEVICE, DEVICE_ID, METRIC_NAME } from './names.js';
import { parseTimestamp } from './time.js';

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

export const MAX_METRICS_PER_EVENT = 32;
/** Values beyond this would overflow the squared deviations of a window. */
export const MAX_ABS_VALUE = 1e100;

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
  // A copy at its size: the pushes reserved 16 slots, and a batch holds a thousand readings in flight.
  const exact = metrics.slice();
  return id === undefined ? { deviceId, timestamp, metrics: exact } : { deviceId, timestamp, metrics: exact, id };
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
