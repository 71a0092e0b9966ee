import { apiTime } from '../schemas/time.js';
import { METRIC_NAME } from '../schemas/names.js';

/**
 * An anomaly as both lists in Redis hold it (the device's, written by record.lua, and the global one,
 * written by tally.lua): JSON with times in ms since the epoch.
 */
export interface StoredAnomaly {
  device_id: string;
  metric: string;
  value: number;
  /** null: the baseline had zero variance (z is ±∞). */
  zscore: number | null;
  avg: number;
  timestamp: number;
  detected_at: number;
}

/** An anomaly as the API shows it: the same fields, times in ISO-8601. */
export type AnomalyRecord = Omit<StoredAnomaly, 'timestamp' | 'detected_at'> & { timestamp: string; detected_at: string };

/** The one conversion from the stored form to the API's. */
export function presentAnomaly(stored: StoredAnomaly): AnomalyRecord {
  const { device_id, metric, value, zscore, avg, timestamp, detected_at } = stored;
  return { device_id, metric, value, zscore, avg, timestamp: apiTime(timestamp), detected_at: apiTime(detected_at) };
}

/** Bytes before the metric's name in a device's record (record.lua's lua/includes/anomaly-list.lua). */
const PACKED_NUMBERS = 40;

/**
 * A record of a device's anomaly list (packed: value, z, avg, timestamp, detected_at as little-endian
 * doubles, then the metric's name); undefined for another form (JSON, as versions before kept it:
 * `npm run migrate` packs those).
 */
export function parseDeviceAnomaly(raw: Buffer, device: string): StoredAnomaly | undefined {
  if (raw.length <= PACKED_NUMBERS) return undefined;
  const metric = raw.subarray(PACKED_NUMBERS).toString('latin1');
  if (!METRIC_NAME.test(metric)) return undefined;
  const d = (i: number) => raw.readDoubleLE(8 * i);
  const z = d(1);
  return { device_id: device, metric, value: d(0), zscore: Number.isFinite(z) ? z : null, avg: d(2), timestamp: d(3), detected_at: d(4) };
}

/** A device's record packed as record.lua writes it (for `npm run migrate`, from the JSON of earlier versions). */
export function packDeviceAnomaly(stored: StoredAnomaly): Buffer {
  const out = Buffer.alloc(PACKED_NUMBERS + stored.metric.length);
  [stored.value, stored.zscore ?? Infinity, stored.avg, stored.timestamp, stored.detected_at].forEach((x, i) => out.writeDoubleLE(x, 8 * i));
  out.write(stored.metric, PACKED_NUMBERS, 'latin1');
  return out;
}
