import { HttpError } from './errors.js';
import { type Precision, timestampMs } from './influx-wire.js';
import type { Point } from './line-protocol.js';
import { DEVICE_TAGS, type MappedValue, deviceOf, fallbackDevice, metricName, timeProblem, valueProblem } from './sender-mapping.js';

/** What a write's points became: the values to store, and what was left out (counted, never an error). */
export interface InfluxValues {
  readonly values: MappedValue[];
  readonly skipped: { string_field: number; boolean_field: number; no_numeric_field: number };
}

/**
 * Maps line protocol points (sender-mapping.ts): the device from the `device_id` tag, else `host`, else
 * the token's device or "default"; `measurement_field` as the metric; float, integer and unsigned fields
 * as values, string and boolean fields skipped; other tags ignored. A point that cannot be stored (a bad
 * device name, time or value) refuses the whole write, naming its line: nothing is half-applied.
 */
export function influxValues(points: readonly Point[], precision: Precision, now: number, scope: string | undefined): InfluxValues {
  const values: MappedValue[] = [];
  const skipped = { string_field: 0, boolean_field: 0, no_numeric_field: 0 };
  for (const point of points) {
    const device = pointDevice(point, scope);
    const timestamp = point.timestamp === undefined ? now : timestampMs(point.timestamp, precision);
    const late = timeProblem(timestamp, now);
    if (late) throw lineError(point.line, late);
    let numeric = 0;
    for (const [field, value] of point.fields) {
      if (value.kind === 'string') skipped.string_field++;
      else if (value.kind === 'boolean') skipped.boolean_field++;
      else {
        const bad = valueProblem(value.value);
        if (bad) throw lineError(point.line, `field ${JSON.stringify(field.slice(0, 40))}: ${bad}`);
        values.push({ device, timestamp, metric: metricName(`${point.measurement}_${field}`), value: value.value, origin: point.line });
        numeric++;
      }
    }
    if (numeric === 0) skipped.no_numeric_field++;
  }
  return { values, skipped };
}

function pointDevice(point: Point, scope: string | undefined): string {
  for (const name of DEVICE_TAGS) {
    const tag = point.tags.find(([key]) => key === name);
    if (!tag) continue;
    const { device, reason } = deviceOf(tag[1]);
    if (reason !== undefined) throw lineError(point.line, `tag ${name}: ${reason}`);
    return device!;
  }
  return fallbackDevice(scope);
}

/** A 400 in line protocol's terms: the line and what is wrong with it. */
export function lineError(line: number, reason: string): HttpError {
  return new HttpError(400, 'invalid_batch', `failed to parse line protocol: line ${line}: ${reason}`, { line });
}
