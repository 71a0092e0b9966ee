import { apiTime } from '../schemas/time.js';

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
