import { DEFAULT_DEVICE, DEVICE_ID } from '../schemas/names.js';
import { MAX_ABS_VALUE, MAX_METRICS_PER_EVENT, type Reading } from '../schemas/event.js';

/*
 * How the points of existing senders (InfluxDB line protocol, OTLP metrics) become this service's
 * readings: declared once here, and tabled in docs/api.md ("Senders").
 */

/** The tags (line protocol) or attributes (OTLP, point then resource) that name the device, first found wins. */
export const DEVICE_TAGS = ['device_id', 'host'] as const;
export const DEVICE_ATTRIBUTES = ['device_id', 'service.instance.id', 'host.name'] as const;

/** Points more than this far in the future are refused, as events are (shared/schemas/time.ts). */
const MAX_FUTURE_MS = 24 * 3600 * 1000;
const MAX_NAME = 63;

/**
 * A sender's name (measurement_field, or an OTLP metric name) in this service's character set:
 * lower-cased, every character outside [a-z0-9_] as `_`, `m_` before a name that does not start with a
 * letter, cut to 63 characters. `cpu` + `usage_idle` → `cpu_usage_idle`; `system.cpu.time` → `system_cpu_time`.
 */
export function metricName(name: string): string {
  const known = names.get(name);
  if (known !== undefined) return known;
  const safe = name.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const mapped = (/^[a-z]/.test(safe) ? safe : `m_${safe}`).slice(0, MAX_NAME);
  if (names.size >= MAX_CACHED_NAMES) names.clear();
  names.set(name, mapped);
  return mapped;
}

/** Senders repeat a few names in every request: each is mapped once (a bounded cache, emptied when full). */
const MAX_CACHED_NAMES = 10_000;
const names = new Map<string, string>();

/** The device a point names, undefined when it names none; a name outside [A-Za-z0-9_.:-]{1,128} is a reason. */
export function deviceOf(value: string | undefined): { device?: string; reason?: string } {
  if (value === undefined) return {};
  if (DEVICE_ID.test(value)) return { device: value };
  return { reason: `device ${JSON.stringify(value.slice(0, 40))} is not 1-128 characters of [A-Za-z0-9_.:-]` };
}

/** The device of a point that names none: the device token's own device, else the default device. */
export function fallbackDevice(scope: string | undefined): string {
  return scope ?? DEFAULT_DEVICE;
}

/** Why a point's time (ms) is refused, or undefined when it is acceptable. */
export function timeProblem(ms: number, now: number): string | undefined {
  if (!Number.isFinite(ms) || ms < 0) return 'the timestamp is before 1970';
  if (ms > now + MAX_FUTURE_MS) return 'the timestamp is more than 24 hours in the future';
  return undefined;
}

/** Why a value is refused, or undefined when it can be stored. */
export function valueProblem(value: number): string | undefined {
  if (!Number.isFinite(value)) return `the value ${value} is not a finite number`;
  if (Math.abs(value) > MAX_ABS_VALUE) return `the value ${value} is beyond ±${MAX_ABS_VALUE}`;
  return undefined;
}

/** One value of one sender point, mapped: where it came from is `origin` (a line number, a point index). */
export interface MappedValue {
  readonly device: string;
  readonly timestamp: number;
  readonly metric: string;
  readonly value: number;
  readonly origin: number;
}

/** Readings and, per reading, the origins of its values (to say which points a refusal concerns). */
export interface Assembled {
  readonly readings: Reading[];
  readonly origins: number[][];
}

/**
 * Folds values into readings: the values of one device at one time share a reading (what a sender
 * collects together is one event), up to 32 metrics each; a metric already in the open reading (the same
 * name from points that differ only by ignored tags) starts another one, so none is lost or merged.
 */
export function assemble(values: readonly MappedValue[]): Assembled {
  const open = new Map<string, Open>();
  const readings: Reading[] = [];
  const origins: number[][] = [];
  let current: Open | undefined;
  let key = '';
  let device: string | undefined;
  let timestamp = Number.NaN;
  for (const v of values) {
    // The values of one point come together: the map is looked up only when the device or time changes.
    if (v.device !== device || v.timestamp !== timestamp) {
      device = v.device;
      timestamp = v.timestamp;
      key = `${device}\u0000${timestamp}`;
      current = open.get(key);
    }
    if (!current || current.metrics.length >= MAX_METRICS_PER_EVENT || current.metrics.some(([name]) => name === v.metric)) {
      current = { metrics: [], origins: [] };
      open.set(key, current);
      readings.push({ deviceId: v.device, timestamp: v.timestamp, metrics: current.metrics });
      origins.push(current.origins);
    }
    current.metrics.push([v.metric, v.value]);
    if (current.origins.at(-1) !== v.origin) current.origins.push(v.origin);
  }
  return { readings, origins };
}

interface Open {
  readonly metrics: Array<[string, number]>;
  readonly origins: number[];
}
