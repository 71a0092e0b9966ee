import type { KeyValue, NumberPoint, OtlpMetric, OtlpRequest } from './otlp-codec.js';
import type { Rates } from './otlp-rates.js';
import { DEVICE_ATTRIBUTES, type MappedValue, deviceOf, fallbackDevice, metricName, timeProblem, valueProblem } from './sender-mapping.js';

const DELTA = 1;
const CUMULATIVE = 2;
/** DataPointFlags.FLAG_NO_RECORDED_VALUE: a staleness marker, no value to store. */
const NO_RECORDED_VALUE = 1;

/** What an export became: values to store (origin = the point's number), refused points and why, skipped ones. */
export interface OtlpValues {
  readonly values: MappedValue[];
  readonly points: number;
  readonly rejected: number;
  readonly reasons: string[];
  readonly skipped: { baseline: number; no_recorded_value: number };
}

interface Walk {
  readonly now: number;
  readonly scope: string | undefined;
  readonly rates: Rates;
  readonly out: OtlpValues & { points: number; rejected: number };
}

/**
 * Maps an export (sender-mapping.ts): gauges, delta sums and non-monotonic sums as given, monotonic
 * cumulative sums as their rate per second (otlp-rates.ts) under `<name>_rate`; histograms, exponential
 * histograms and summaries refused per point with the reason, as are points of a bad device, time or value.
 */
export function otlpValues(request: OtlpRequest, now: number, scope: string | undefined, rates: Rates): OtlpValues {
  const walk: Walk = { now, scope, rates, out: { values: [], points: 0, rejected: 0, reasons: [], skipped: { baseline: 0, no_recorded_value: 0 } } };
  for (const resource of request.resourceMetrics ?? []) {
    const attributes = resource.resource?.attributes ?? [];
    for (const scopeMetrics of resource.scopeMetrics ?? []) {
      for (const metric of scopeMetrics.metrics ?? []) mapMetric(walk, metric, attributes);
    }
  }
  return walk.out;
}

function mapMetric(walk: Walk, metric: OtlpMetric, resource: readonly KeyValue[]): void {
  const name = metric.name ?? '';
  const refused = metric.histogram ?? metric.exponentialHistogram ?? metric.summary;
  if (refused) {
    const kind = metric.histogram ? 'histogram' : metric.exponentialHistogram ? 'exponential histogram' : 'summary';
    return reject(walk, refused.dataPoints?.length ?? 0, `${name}: ${kind} points are not stored (send gauges or sums)`);
  }
  const sum = metric.sum;
  const points = metric.gauge?.dataPoints ?? sum?.dataPoints ?? [];
  if (sum && sum.aggregationTemporality !== DELTA && sum.aggregationTemporality !== CUMULATIVE) {
    return reject(walk, points.length, `${name}: a sum without aggregation temporality`);
  }
  const rate = sum !== undefined && sum.aggregationTemporality === CUMULATIVE && sum.isMonotonic === true;
  const stored = metricName(name);
  const target = rate ? `${stored.slice(0, 58)}_rate` : stored;
  for (const point of points) mapPoint(walk, point, resource, name === '' ? undefined : target, rate);
}

function mapPoint(walk: Walk, point: NumberPoint, resource: readonly KeyValue[], metric: string | undefined, rate: boolean): void {
  const { out } = walk;
  const origin = out.points++;
  if (((point.flags ?? 0) & NO_RECORDED_VALUE) !== 0) return void out.skipped.no_recorded_value++;
  if (metric === undefined) return reject(walk, 1, 'a metric without a name', true);
  const { device, reason } = pointDevice(point.attributes ?? [], resource, walk.scope);
  if (reason !== undefined) return reject(walk, 1, `${metric}: ${reason}`, true);
  const timestamp = nanosToMs(point.timeUnixNano);
  const problem = timestamp === 0 ? 'a point without time_unix_nano' : timeProblem(timestamp, walk.now);
  if (problem !== undefined) return reject(walk, 1, `${metric}: ${problem}`, true);
  let value = point.asDouble ?? (point.asInt === undefined ? undefined : Number(point.asInt));
  if (value === undefined) return reject(walk, 1, `${metric}: a point without a value`, true);
  if (rate) {
    const stream = `${device}\u0000${metric}\u0000${attributeKey(point.attributes)}`;
    value = walk.rates.next(stream, nanosToMs(point.startTimeUnixNano), timestamp, value);
    if (value === undefined) return void out.skipped.baseline++;
  }
  const bad = valueProblem(value);
  if (bad !== undefined) return reject(walk, 1, `${metric}: ${bad}`, true);
  out.values.push({ device: device!, timestamp, metric, value, origin });
}

function reject(walk: Walk, points: number, reason: string, counted = false): void {
  if (!counted) walk.out.points += points;
  walk.out.rejected += points;
  if (walk.out.reasons.length < 5 && !walk.out.reasons.includes(reason)) walk.out.reasons.push(reason);
}

/** The device: the point's `device_id` attribute, else the resource's device_id, service.instance.id, host.name. */
function pointDevice(point: readonly KeyValue[], resource: readonly KeyValue[], scope: string | undefined) {
  const own = point.find((kv) => kv.key === DEVICE_ATTRIBUTES[0]);
  if (own) return deviceOf(text(own));
  for (const name of DEVICE_ATTRIBUTES) {
    const found = resource.find((kv) => kv.key === name);
    if (found) return deviceOf(text(found));
  }
  return { device: fallbackDevice(scope) };
}

function text(kv: KeyValue): string {
  const v = kv.value ?? {};
  return v.stringValue ?? v.intValue ?? (v.doubleValue ?? v.boolValue ?? '').toString();
}

/** Unix nanoseconds (decimal digits) → ms, sub-millisecond digits dropped; 0 when absent. */
function nanosToMs(nanos: string | undefined): number {
  return nanos === undefined || nanos.length <= 6 ? 0 : Number(nanos.slice(0, -6));
}

function attributeKey(attributes: readonly KeyValue[] | undefined): string {
  return (attributes ?? []).map((kv) => `${kv.key}=${text(kv)}`).sort().join(',');
}
