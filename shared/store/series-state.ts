import { BASELINE_STORED } from '../detector/baseline.js';
import { normalCdf, scoreOf } from '../detector/detection.js';

/**
 * The state hash of a series holds one field, `state`: little-endian doubles written by
 * shared/store/lua/record.lua with struct.pack (exact, and far cheaper for the script than text
 * fields), whose header documents the layouts. v4 has 27 (the window's sums, the detection's state
 * and the last value's results), and 10 more while an alert episode is open; v5 (trigger `baseline`)
 * has the same 27, the baseline method's 12 (BASELINE_STORED, shared/detector/baseline.ts; its hours
 * are in a field of their own) and the episode's 10; v3 and v2 (37) and v1 (17) are still read.
 */
const V1 = [
  'version', 'n', 'k', 's1', 's2', 'e1', 'e2', 'w', 'count', 'anomalies', 'refreshed',
  'last', 'avg', 'z', 'anomaly', 'ts', 'updated',
] as const;
const V3 = [
  ...V1, 'score', 'likelihood', 'sh', 'mu', 'v', 'lc', 'ep', 'start', 'calm', 'cool', 'episodes',
  'last_unusual', 'peak', 'peak_value', 'peak_at', 'open_value', 'open_score', 'open_likelihood', 'opened_at', 'same',
] as const;
const V4 = [
  'version', 'n', 'k', 's1', 's2', 'e1', 'e2', 'w', 'count', 'anomalies', 'refreshed', 'last',
  'sh', 'mu', 'v', 'lc', 'same', 'ep', 'cool', 'episodes', 'avg', 'z', 'bits', 'ts', 'updated', 'd', 'variance',
] as const;
const V4_OPEN = [
  ...V4, 'start', 'calm', 'last_unusual', 'peak', 'peak_value', 'peak_at', 'open_value', 'open_score', 'open_likelihood', 'opened_at',
] as const;
const EPISODE = V4_OPEN.slice(V4.length);
/** v5: where the episode's fields start, in bytes (after v4's 27 doubles and the baseline method's 12). */
const V5_EPISODE_AT = 8 * (V4.length + BASELINE_STORED);
export const STATE_FIELD = 'state';

export type SeriesState = Record<(typeof V3)[number], number>;

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

/** The v4 fields of a v4 or v5 state (v5's baseline state is the script's alone). */
function readV4(packed: Buffer, version: number): Record<string, number> | undefined {
  const fields: Record<string, number> = {};
  const sizes = version === 4 ? [8 * V4.length, 8 * V4_OPEN.length] : [V5_EPISODE_AT, V5_EPISODE_AT + 8 * EPISODE.length];
  const at = sizes.indexOf(packed.length);
  if (at < 0) return undefined;
  read(packed, V4, fields);
  if (at === 1) read(packed, EPISODE, fields, sizes[0]);
  return fields;
}

/**
 * Decodes a packed state, or returns undefined for a missing value or an unknown layout. v4's score
 * and likelihood are computed from what it keeps (z, whether the value was scored, the likelihood's d
 * and variance), as the write path's replies are.
 */
export function decodeState(packed: Buffer | null | undefined): SeriesState | undefined {
  if (!packed) return undefined;
  const state = Object.fromEntries(V3.map((name) => [name, 0])) as SeriesState;
  const version = packed.length >= 8 ? packed.readDoubleLE(0) : 0;
  const v4 = version === 4 || version === 5 ? readV4(packed, version) : undefined;
  if (v4) {
    const { bits, d, variance, ...rest } = v4;
    const { anomaly, score, likelihood } = valueFigures(rest.z!, bits!, d!, variance!);
    return Object.assign(state, rest, { anomaly: anomaly ? 1 : 0, score, likelihood });
  }
  if (packed.length === V3.length * 8 && (version === 2 || version === 3)) {
    read(packed, V3, state);
    return state;
  }
  if (packed.length === V1.length * 8 && version === 1) {
    read(packed, V1, state);
    state.likelihood = 0.5;
    return state;
  }
  return undefined;
}
