/**
 * The reference semantics of the detector, recomputed from scratch for every value (no I/O, no state).
 * shared/store/lua/record.lua computes the same thing in O(1) per value; tests hold the two together.
 */
import { baselineStep, emptyBaseline } from './baseline.js';
import { type EpisodeStep, detect, emptyDetection } from './detection.js';
import type { DetectorParams } from './params.js';
import { PROFILES } from './profiles.js';

export type { DetectorParams } from './params.js';

export interface Outcome {
  /** Mean of the last `windowSize` values, this one included. */
  readonly avg: number;
  /** (value − mean) / std over the values before this one; `null` when that baseline has zero variance and the value differs. */
  readonly zscore: number | null;
  readonly anomaly: boolean;
  /** Graded score in [0, 1], likelihood, and what this value did to the series' episode (shared/detector/detection.ts). */
  readonly score: number;
  readonly likelihood: number;
  readonly episode: EpisodeStep;
}

export interface Moments {
  readonly mean: number;
  /** Population variance. */
  readonly variance: number;
}

/**
 * Mean and population variance by the corrected two-pass algorithm, so that large offsets
 * (1e12 + noise) keep their precision. A constant window gives exactly its value and 0.
 */
export function moments(values: readonly number[]): Moments {
  const n = values.length;
  if (n === 0) return { mean: 0, variance: 0 };
  let lo = values[0]!;
  let hi = lo;
  let sum = 0;
  for (const v of values) {
    sum += v;
    if (v < lo) lo = v;
    else if (v > hi) hi = v;
  }
  if (lo === hi) return { mean: lo, variance: 0 };
  const rough = sum / n;
  let c = 0;
  let q = 0;
  for (const v of values) {
    const d = v - rough;
    c += d;
    q += d * d;
  }
  return { mean: rough + c / n, variance: Math.max(0, (q - (c * c) / n) / n) };
}

/** The z-score of `value` against `baseline`; `null` stands for ±∞ (zero-variance baseline, value differs). */
export function zScore(value: number, baseline: readonly number[]): number | null {
  if (baseline.length === 0) return 0;
  const { mean, variance } = moments(baseline);
  if (variance === 0) return value === mean ? 0 : null;
  const z = (value - mean) / Math.sqrt(variance);
  return Number.isFinite(z) ? z : null;
}

/** Whether a z-score over a baseline of `samples` values is an anomaly. */
export function isAnomaly(zscore: number | null, samples: number, params: Pick<DetectorParams, 'zThreshold' | 'minSamples'>): boolean {
  return samples >= params.minSamples && (zscore === null || Math.abs(zscore) > params.zThreshold);
}

/** The z-score parameters, and any others (the rest from the default profile). */
export type ReplayParams = Pick<DetectorParams, 'windowSize' | 'zThreshold' | 'minSamples'> & Partial<DetectorParams>;

/** Runs a stream of values of one series through the detector, starting from an empty state; value i has time `times[i]` (default i). */
export function replay(values: readonly number[], given: ReplayParams, times?: readonly number[]): Outcome[] {
  const params: DetectorParams = { ...PROFILES.default, ...given };
  const window: number[] = [];
  const state = emptyDetection();
  // The baseline method's state: kept, and stepped, only when it triggers episodes (as in the Lua).
  const alerting = params.episodeTrigger === 'baseline' ? emptyBaseline() : undefined;
  return values.map((value, i) => {
    const zscore = zScore(value, window);
    const scored = window.length >= params.minSamples;
    const anomaly = isAnomaly(zscore, window.length, params);
    const ts = times?.[i] ?? i;
    const baseline = alerting && baselineStep(alerting, value, ts, params);
    const detection = detect(state, zscore, scored, anomaly, value, { previous: window.at(-1), samples: window.length, seen: i }, ts, 0, params, baseline);
    window.push(value);
    if (window.length > params.windowSize) window.shift();
    return { avg: moments(window).mean, zscore, anomaly, ...detection };
  });
}
