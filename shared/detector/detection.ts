/**
 * Graded score, anomaly likelihood and alert episodes of one series, one value at a time, in O(1).
 * The reference for shared/store/lua/includes/detection.lua, which computes the same arithmetic in the
 * same order; tests hold the two together.
 *
 * - score: 1 − erfc(|z|/√2), the two-sided Gaussian probability of a deviation smaller than this one:
 *   0 at z = 0, 1 for a non-zero deviation from a zero-variance baseline, uniform on [0, 1] for
 *   Gaussian noise. 0 until the baseline holds MIN_SAMPLES values.
 * - likelihood (after Numenta's anomaly likelihood, Ahmad et al. 2017): a short moving average of how
 *   far values fall from their baseline, |z| clamped to 8, judged against the long-run mean and
 *   variance of that average for this series: the Gaussian probability that the average is below its
 *   current value (an EWMA control chart of the absolute deviations). 0.5 while learning. |z|, not the
 *   score, is averaged: scores are uniform for Gaussian noise and spread the average so wide that a
 *   sustained 3σ shift barely reaches 0.9997, and |z| costs no special function per value (the Lua
 *   runs this for every value). Heavier tails widen this series' own long-run spread, which is the
 *   point of judging against it.
 * - thresholds are compared where they cost least: a likelihood of at least EPISODE_LIKELIHOOD is the
 *   average at least Φ⁻¹(EPISODE_LIKELIHOOD) long-run deviations above its mean, a score of at least
 *   EPISODE_SCORE is |z| at least the z of that score (thresholdsOf); the same comparisons in the Lua.
 * - episodes: open on an unusual value (the flag, or the likelihood / an extreme score / a flatline,
 *   and the flag too while the likelihood is learning: short-lived series are not left blind), stay open
 *   while values stay unusual, close after EPISODE_CLOSE_AFTER usual values; then no new one opens
 *   for EPISODE_REFRACTORY values. An alert is an episode opening, at most one per episode.
 * - trigger `baseline` (the default): an episode opens on an alert of the baseline method
 *   (./baseline.ts: past its warm-up and its own refractory period, BASELINE_REFRACTORY, which replaces
 *   EPISODE_REFRACTORY), stays open while one of its tests fires, and closes after EPISODE_CLOSE_AFTER
 *   values on which none does.
 */
import type { BaselineStep } from './baseline.js';
import type { DetectorParams } from './params.js';

/** The learning period of the likelihood, as a share of its long span. */
export const LIKELIHOOD_WARMUP_SHARE = 0.1;
/** Smallest spread of the score average the likelihood assumes: a series whose scores never moved is not infinitely sensitive. */
export const LIKELIHOOD_MIN_STD = 0.05;
/** |z| as the likelihood averages it is clamped to 8: one value (a zero-variance deviation: ∞) cannot outweigh a whole span. */
export const DEVIATION_CLAMP = 8;

export interface DetectionState {
  /** Identical values in a row, this one included. */
  same: number;
  /** Short average of |z|, long-run mean and variance of it, values scored. */
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

// Acklam's rational approximation of the normal quantile: within 1e-9 in the centre, 6e-6 (relative) in
// the tails below 0.02425 and above 0.97575 (measured; it only sets thresholds, once per call).
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

/** Φ⁻¹(p), the standard normal quantile: −∞ at 0, ∞ at 1. */
export function normalQuantile(p: number): number {
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  if (p < P_LOW) return lowerQuantile(p);
  if (1 - p < P_LOW) return -lowerQuantile(1 - p);
  const q = p - 0.5;
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

/** The episode thresholds where they are compared: Φ⁻¹(EPISODE_LIKELIHOOD), and the |z| whose score is EPISODE_SCORE (∞ for 1). */
export interface Thresholds {
  likelihoodX: number;
  scoreZ: number;
}

export function thresholdsOf(p: DetectorParams): Thresholds {
  // score = 1 − erfc(|z|/√2) = 2Φ(|z|) − 1, so score ≥ S ⇔ |z| ≥ Φ⁻¹((1 + S) / 2)
  return { likelihoodX: normalQuantile(p.episodeLikelihood), scoreZ: normalQuantile((1 + p.episodeScore) / 2) };
}

/** The likelihood of one value, and whether it reaches EPISODE_LIKELIHOOD. */
export interface LikelihoodStep {
  likelihood: number;
  high: boolean;
}

/**
 * Folds a value's |z| into the likelihood state: the likelihood of the new short average against the
 * long-run distribution so far, then that distribution. While learning: 0.5, high only for a threshold of 0.5.
 */
export function likelihoodStep(st: DetectionState, absZ: number, p: DetectorParams, likelihoodX: number): LikelihoodStep {
  const deviation = absZ < DEVIATION_CLAMP ? absZ : DEVIATION_CLAMP;
  const shortRate = 2 / (p.likelihoodShort + 1);
  st.sh = st.lc === 0 ? deviation : st.sh + shortRate * (deviation - st.sh);
  const d = st.sh - st.mu;
  const step = { likelihood: 0.5, high: likelihoodX <= 0 };
  if (st.lc >= LIKELIHOOD_WARMUP_SHARE * p.likelihoodLong) {
    const variance = Math.max(st.v, LIKELIHOOD_MIN_STD * LIKELIHOOD_MIN_STD);
    step.likelihood = normalCdf(d / Math.sqrt(variance));
    // Φ(d / σ) ≥ L ⇔ d ≥ Φ⁻¹(L)·σ, squared (Φ⁻¹(L) ≥ 0): no root or special function per value in the Lua.
    step.high = d >= 0 && d * d >= likelihoodX * likelihoodX * variance;
  }
  // A running mean and variance at first, an exponential one over the long span after.
  const rate = Math.max(2 / (p.likelihoodLong + 1), 1 / (st.lc + 1));
  st.mu += rate * d;
  st.v = (1 - rate) * (st.v + rate * d * d);
  st.lc += 1;
  return step;
}

/**
 * Whether a value is unusual enough to open or extend an episode. `extreme`: its |z| reaches the z of
 * EPISODE_SCORE; `flat`: it ends a run of EPISODE_FLATLINE identical values or more while its baseline
 * of `samples` values held others; `seen`: the series' values before this one (the flag counts for its
 * first EPISODE_WARMUP scored values, those before MIN_SAMPLES + EPISODE_WARMUP; counted in values, not
 * by the likelihood's own count, so that a likelihood that starts learning again does not re-run it).
 */
export function isUnusual(flag: boolean, highLikelihood: boolean, extreme: boolean, flat: boolean, seen: number, p: DetectorParams): boolean {
  if (p.episodeTrigger === 'flag') return flag;
  if (p.episodeTrigger === 'baseline') return false;
  return highLikelihood || (p.episodeScore > 0 && extreme) || flat || (flag && seen < p.minSamples + p.episodeWarmup);
}

/**
 * Moves the episode of a series on by one value (time `ts`, detected at `now`): `unusual` keeps an open
 * episode open, `opens` opens one (the same, but for trigger `baseline`: its alert, after its own refractory).
 */
export function episodeStep(st: DetectionState, unusual: boolean, opens: boolean, d: Detection, value: number, ts: number, now: number, p: DetectorParams): EpisodeStep {
  if (st.ep === 1) {
    if (!unusual) {
      st.calm += 1;
      if (st.calm < p.episodeCloseAfter) return 'open';
      st.ep = 0;
      st.cool = p.episodeTrigger === 'baseline' ? 0 : p.episodeRefractory;
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
  if (!opens) return null;
  Object.assign(st, {
    ep: 1, start: ts, calm: 0, episodes: st.episodes + 1, lastUnusual: ts, peak: d.score, peakValue: value, peakAt: ts,
    openValue: value, openScore: d.score, openLikelihood: d.likelihood, openedAt: now,
  });
  return 'opened';
}

/** The value before this one in the series, how many values its baseline holds, and how many it has seen. */
export interface Before {
  previous: number | undefined;
  samples: number;
  seen: number;
}

/** Score, likelihood and episode of one value, given its z-score and flag, and with trigger `baseline` the method's step on it; updates `st`. */
export function detect(
  st: DetectionState, zscore: number | null, scored: boolean, flag: boolean, value: number, before: Before, ts: number, now: number, p: DetectorParams,
  baseline?: BaselineStep,
): Detection {
  const d: Detection = { score: scoreOf(zscore, scored), likelihood: 0.5, episode: null };
  const absZ = zscore === null ? Infinity : Math.abs(zscore);
  const cuts = thresholdsOf(p);
  let high = false;
  if (scored) ({ likelihood: d.likelihood, high } = likelihoodStep(st, absZ, p, cuts.likelihoodX));
  st.same = value === before.previous ? st.same + 1 : 1;
  const flat = p.episodeFlatline > 0 && st.same >= p.episodeFlatline && st.same - 1 < before.samples;
  const unusual = baseline ? baseline.firing : isUnusual(flag, high, scored && absZ >= cuts.scoreZ, flat, before.seen, p);
  d.episode = episodeStep(st, unusual, baseline ? baseline.alert : unusual, d, value, ts, now, p);
  return d;
}
