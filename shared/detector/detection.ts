/**
 * Graded score, anomaly likelihood and alert episodes of one series, one value at a time, in O(1).
 * The reference for shared/store/lua/includes/detection.lua, which computes the same arithmetic in the
 * same order; tests hold the two together.
 *
 * - score: 1 − erfc(|z|/√2), the two-sided Gaussian probability of a deviation smaller than this one:
 *   0 at z = 0, 1 for a non-zero deviation from a zero-variance baseline, uniform on [0, 1] for
 *   Gaussian noise. 0 until the baseline holds MIN_SAMPLES values.
 * - likelihood (after Numenta's anomaly likelihood, Ahmad et al. 2017): a short moving average of the
 *   scores judged against the long-run mean and variance of that average for this series; the
 *   Gaussian probability that the average is below its current value. 0.5 while learning. The average
 *   is taken over the scores' normal quantiles Φ⁻¹(score), clamped to ±8: standard normal for
 *   Gaussian noise, so the Gaussian tail is exact there (scores themselves, uniform, spread the
 *   average so wide that a sustained 3σ shift barely reaches 0.9997); heavier tails widen this
 *   series' own long-run spread, which is the point of judging against it.
 * - episodes: open on an unusual value (the flag, or the likelihood / an extreme score / a flatline,
 *   and the flag too while the likelihood is learning: short-lived series are not left blind), stay open
 *   while values stay unusual, close after EPISODE_CLOSE_AFTER usual values; then no new one opens
 *   for EPISODE_REFRACTORY values. An alert is an episode opening, at most one per episode.
 */
import type { DetectorParams } from './params.js';

/** The learning period of the likelihood, as a share of its long span. */
export const LIKELIHOOD_WARMUP_SHARE = 0.1;
/** Smallest spread of the score average the likelihood assumes: a series whose scores never moved is not infinitely sensitive. */
export const LIKELIHOOD_MIN_STD = 0.05;
/** Normal quantiles are clamped to ±8 (Φ(−8) ≈ 6e-16): a zero-variance deviation counts as 8, and a constant series as −8. */
const QUANTILE_CLAMP = 8;
const TAIL_CLAMP = 6.2e-16;

export interface DetectionState {
  /** Identical values in a row, this one included. */
  same: number;
  /** Short average of scores, long-run mean and variance of it, scores seen. */
  sh: number;
  mu: number;
  v: number;
  lc: number;
  /** Episode: open (1) or not, start, usual values in a row, refractory values left, episodes opened. */
  ep: number;
  start: number;
  calm: number;
  cool: number;
  episodes: number;
  /** Last unusual value's time, and the peak: score, value, time. */
  lastUnusual: number;
  peak: number;
  peakValue: number;
  peakAt: number;
  /** The opening value, its score and likelihood, and when it was detected. */
  openValue: number;
  openScore: number;
  openLikelihood: number;
  openedAt: number;
}

export type EpisodeStep = 'opened' | 'open' | 'closed' | null;

export interface Detection {
  score: number;
  likelihood: number;
  episode: EpisodeStep;
}

export function emptyDetection(): DetectionState {
  return {
    same: 0, sh: 0, mu: 0, v: 0, lc: 0, ep: 0, start: 0, calm: 0, cool: 0, episodes: 0,
    lastUnusual: 0, peak: 0, peakValue: 0, peakAt: 0, openValue: 0, openScore: 0, openLikelihood: 0, openedAt: 0,
  };
}

/** erfc(x) for x ≥ 0, relative error below 1.2e-7 everywhere (Chebyshev fit, Numerical Recipes §6.2): good in the far tail. */
export function erfc(x: number): number {
  const t = 1 / (1 + 0.5 * x);
  const poly =
    -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * Math.exp(-x * x + poly);
}

const SQRT2 = Math.SQRT2;

/** The graded score of a z-score (null: ±∞); 0 when the baseline is too short to score. */
export function scoreOf(zscore: number | null, scored: boolean): number {
  if (!scored) return 0;
  const s = 1 - tailOf(zscore);
  return s < 0 ? 0 : s;
}

// Acklam's rational approximation of the normal quantile (relative error below 1.2e-9).
const A = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
const B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
const C = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549671010506745, 4.374664141464968, 2.938163982698783];
const D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
const P_LOW = 0.02425;

/** Φ⁻¹(p) for 0 < p < P_LOW (the lower tail). */
function lowerQuantile(p: number): number {
  const q = Math.sqrt(-2 * Math.log(p));
  return (((((C[0]! * q + C[1]!) * q + C[2]!) * q + C[3]!) * q + C[4]!) * q + C[5]!) / ((((D[0]! * q + D[1]!) * q + D[2]!) * q + D[3]!) * q + 1);
}

/**
 * Φ⁻¹(score), clamped to ±8, from the score and its two-sided tail 1 − score (given separately: it
 * keeps its precision where the score has rounded to 1).
 */
export function scoreQuantile(score: number, tail: number): number {
  if (tail < TAIL_CLAMP) return QUANTILE_CLAMP;
  if (score < TAIL_CLAMP) return -QUANTILE_CLAMP;
  if (tail < P_LOW) return -lowerQuantile(tail);
  if (score < P_LOW) return lowerQuantile(score);
  const q = score - 0.5;
  const r = q * q;
  return ((((((A[0]! * r + A[1]!) * r + A[2]!) * r + A[3]!) * r + A[4]!) * r + A[5]!) * q) / (((((B[0]! * r + B[1]!) * r + B[2]!) * r + B[3]!) * r + B[4]!) * r + 1);
}

/** The two-sided tail 1 − score of a z-score (null: ±∞ → 0). */
export function tailOf(zscore: number | null): number {
  return zscore === null ? 0 : erfc(Math.abs(zscore) / SQRT2);
}

/** P(X ≤ x) for a standard normal X. */
export function normalCdf(x: number): number {
  return x >= 0 ? 1 - 0.5 * erfc(x / SQRT2) : 0.5 * erfc(-x / SQRT2);
}

/** Folds a score's normal quantile into the likelihood state and returns the likelihood of the new short average. */
export function likelihoodStep(st: DetectionState, quantile: number, p: DetectorParams): number {
  const shortRate = 2 / (p.likelihoodShort + 1);
  st.sh = st.lc === 0 ? quantile : st.sh + shortRate * (quantile - st.sh);
  let likelihood = 0.5;
  if (st.lc >= LIKELIHOOD_WARMUP_SHARE * p.likelihoodLong) {
    const std = Math.max(Math.sqrt(st.v), LIKELIHOOD_MIN_STD);
    likelihood = normalCdf((st.sh - st.mu) / std);
  }
  // A running mean and variance at first, an exponential one over the long span after.
  const rate = Math.max(2 / (p.likelihoodLong + 1), 1 / (st.lc + 1));
  const d = st.sh - st.mu;
  st.mu += rate * d;
  st.v = (1 - rate) * (st.v + rate * d * d);
  st.lc += 1;
  return likelihood;
}

/**
 * Whether a value is unusual enough to open or extend an episode. `flat`: it ends a run of
 * EPISODE_FLATLINE identical values or more while its baseline of `samples` values held others;
 * `scoredSoFar`: the series' scored values, this one included (the flag counts for the first EPISODE_WARMUP).
 */
export function isUnusual(flag: boolean, score: number, likelihood: number, flat: boolean, scoredSoFar: number, p: DetectorParams): boolean {
  if (p.episodeTrigger === 'flag') return flag;
  return likelihood >= p.episodeLikelihood || (p.episodeScore > 0 && score >= p.episodeScore) || flat || (flag && scoredSoFar <= p.episodeWarmup);
}

/** Moves the episode of a series on by one value (time `ts`, detected at `now`). */
export function episodeStep(st: DetectionState, unusual: boolean, d: Detection, value: number, ts: number, now: number, p: DetectorParams): EpisodeStep {
  if (st.ep === 1) {
    if (!unusual) {
      st.calm += 1;
      if (st.calm < p.episodeCloseAfter) return 'open';
      st.ep = 0;
      st.cool = p.episodeRefractory;
      return 'closed';
    }
    st.calm = 0;
    st.lastUnusual = ts;
    if (d.score > st.peak) Object.assign(st, { peak: d.score, peakValue: value, peakAt: ts });
    return 'open';
  }
  if (st.cool > 0) {
    st.cool -= 1;
    return null;
  }
  if (!unusual) return null;
  Object.assign(st, {
    ep: 1, start: ts, calm: 0, episodes: st.episodes + 1, lastUnusual: ts, peak: d.score, peakValue: value, peakAt: ts,
    openValue: value, openScore: d.score, openLikelihood: d.likelihood, openedAt: now,
  });
  return 'opened';
}

/** The value before this one in the series, and how many values its baseline holds. */
export interface Before {
  previous: number | undefined;
  samples: number;
}

/** Score, likelihood and episode of one value, given its z-score and flag; updates `st`. */
export function detect(st: DetectionState, zscore: number | null, scored: boolean, flag: boolean, value: number, before: Before, ts: number, now: number, p: DetectorParams): Detection {
  const d: Detection = { score: scoreOf(zscore, scored), likelihood: 0.5, episode: null };
  if (scored) d.likelihood = likelihoodStep(st, scoreQuantile(d.score, tailOf(zscore)), p);
  st.same = value === before.previous ? st.same + 1 : 1;
  const flat = p.episodeFlatline > 0 && st.same >= p.episodeFlatline && st.same - 1 < before.samples;
  d.episode = episodeStep(st, isUnusual(flag, d.score, d.likelihood, flat, st.lc, p), d, value, ts, now, p);
  return d;
}
