import { BASELINE_STORED } from '../detector/baseline.js';
import { normalCdf, scoreOf } from '../detector/detection.js';

/**
 * The state hash of a device holds each series' state in one field, `<metric>`: little-endian doubles written by
 * shared/store/lua/record.lua with struct.pack (exact, and far cheaper for the script than text
 * fields); the header of lua/includes/series-state.lua documents the one layout (v6): the series' 27 (the window's sums, the
 * detection's state and the last value's results), the baseline method's 12, and 10 more while an
 * alert episode is open. A state of another layout is not read (`npm run migrate` rewrites a store
 * written by an earlier version).
 */
export const LAYOUT = 6;
export const SERIES_FIELDS = [
  'version', 'n', 'k', 's1', 's2', 'e1', 'e2', 'w', 'count', 'anomalies', 'refreshed', 'last',
  'sh', 'mu', 'v', 'lc', 'same', 'ep', 'cool', 'episodes', 'avg', 'z', 'bits', 'ts', 'updated', 'd', 'variance',
] as const;
export const EPISODE_FIELDS = [
  'start', 'calm', 'last_unusual', 'peak', 'peak_value', 'peak_at', 'open_value', 'open_score', 'open_likelihood', 'opened_at',
] as const;
/** Bytes of a state with no episode open, and where the episode's fields start. */
export const STATE_BYTES = 8 * (SERIES_FIELDS.length + BASELINE_STORED);
/** The field of a series' hour-of-day table in its device's state hash (keys.deviceState), beside `<metric>`, its state. */
export const hoursField = (metric: string) => `${metric}:h`;

type Field = Exclude<(typeof SERIES_FIELDS)[number], 'bits' | 'd' | 'variance'> | (typeof EPISODE_FIELDS)[number];
export type SeriesState = Record<Field | 'anomaly' | 'score' | 'likelihood', number>;

/** A value's figures as the API shows them, from what record.lua keeps of it (in replies and in the state alike). */
export interface ValueFigures {
  zscore: number | null;
  anomaly: boolean;
  score: number;
  likelihood: number;
}

/**
 * The figures of a value from z (±∞ for a deviation from a zero-variance baseline), bits (1 anomaly,
 * 2 scored) and the likelihood's d and variance (0 while it learns): the score and the likelihood are
 * computed here, with the reference's functions, not in Redis.
 */
export function valueFigures(z: number, bits: number, d: number, variance: number): ValueFigures {
  const zscore = Number.isFinite(z) ? z : null;
  return {
    zscore, anomaly: (bits & 1) === 1, score: scoreOf(zscore, (bits & 2) === 2),
    likelihood: variance > 0 ? normalCdf(d / Math.sqrt(variance)) : 0.5,
  };
}

const read = (packed: Buffer, names: readonly string[], into: Record<string, number>, from = 0) =>
  names.forEach((name, i) => (into[name] = packed.readDoubleLE(from + 8 * i)));

/**
 * Decodes a packed state, or returns undefined for a missing value or another layout. The score and
 * likelihood are computed from what it keeps (z, whether the value was scored, the likelihood's d and
 * variance), as the write path's replies are.
 */
export function decodeState(packed: Buffer | null | undefined): SeriesState | undefined {
  if (!packed || packed.length < 8 || packed.readDoubleLE(0) !== LAYOUT) return undefined;
  const open = packed.length === STATE_BYTES + 8 * EPISODE_FIELDS.length;
  if (packed.length !== STATE_BYTES && !open) return undefined;
  const fields: Record<string, number> = Object.fromEntries(EPISODE_FIELDS.map((name) => [name, 0]));
  read(packed, SERIES_FIELDS, fields);
  if (open) read(packed, EPISODE_FIELDS, fields, STATE_BYTES);
  const { bits, d, variance, ...rest } = fields;
  const { anomaly, score, likelihood } = valueFigures(rest.z!, bits!, d!, variance!);
  return { ...rest, anomaly: anomaly ? 1 : 0, score, likelihood } as SeriesState;
}
