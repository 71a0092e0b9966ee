/**
 * The alert method of trigger `baseline` (docs/detection-research.md): O(1) state per series, simple
 * arithmetic per value, one parameter set for every series. The reference for
 * shared/store/lua/includes/baseline.lua, which computes the same arithmetic in the same order.
 *
 * - hour-of-day baseline: each value minus the running mean of the values seen at the same hour of the
 *   day (24 means keyed from the event time): a daily cycle leaves a residual near 0; a series without
 *   one has 24 means close to its overall mean, so its residual is its deviation from that mean.
 * - long baseline of the residual: its exponentially weighted mean and variance over BASELINE_LONG
 *   values (a running mean and variance while fewer have been seen).
 * - spike: the residual's |z| against that baseline reaches BASELINE_SPIKE_Z (one value far out).
 * - level: the short average (EWMA over BASELINE_SHORT values) of the residual, in long-run standard
 *   deviations, reaches BASELINE_LEVEL_Z (a shift, or a burst, that no single value makes extreme).
 * - flatline: BASELINE_FLAT_RUN identical values in a row, in a series whose values repeat their
 *   predecessor less than BASELINE_FLAT_SHARE of the time (a stuck sensor or a dead exporter; a
 *   quantised series that often repeats is left alone).
 * - warm-up and refractory: no alert in the first BASELINE_WARMUP values, nor in the BASELINE_REFRACTORY
 *   values after an alert.
 */
import type { DetectorParams } from './params.js';

/** The method's parameters, as the settings name them (BASELINE_*); 0 turns a test off. */
export type BaselineParams = Pick<
  DetectorParams,
  'baselineLong' | 'baselineShort' | 'baselineSpikeZ' | 'baselineLevelZ' | 'baselineRefractory' | 'baselineWarmup' | 'baselineHourSpan' | 'baselineFlatRun' | 'baselineFlatShare'
>;

export const HOURS = 24;
const HOUR_MS = 3_600_000;

/** What the method keeps per series: 9 numbers, and 24 means and 24 counts (one per hour of the day). */
export interface BaselineState {
  /** Values seen. */
  n: number;
  /** Running mean of the values: the baseline of an hour not yet seen. */
  all: number;
  /** Long-run mean and variance of the residual, and its short average. */
  mean: number;
  variance: number;
  short: number;
  /** Values left in the refractory period. */
  cool: number;
  /** The previous value, identical values in a row (this one included), share of values equal to their predecessor. */
  previous: number;
  same: number;
  repeats: number;
  hourMean: number[];
  hourCount: number[];
}

/**
 * The order of the fields where they are stored (record.lua, after the series' own 27 doubles): the 9
 * numbers, then the pending hour (-1: none), its mean and count: BASELINE_STORED doubles. The other
 * hours' means (doubles) and counts (uint16: a count stops at BASELINE_HOUR_SPAN, at most 65,535) are
 * in a field of their own, rewritten only when a value meets another hour than the pending one.
 */
export const BASELINE_FIELDS = ['n', 'all', 'mean', 'variance', 'short', 'cool', 'previous', 'same', 'repeats'] as const;
export const BASELINE_STORED = BASELINE_FIELDS.length + 3;

export function emptyBaseline(): BaselineState {
  return { n: 0, all: 0, mean: 0, variance: 0, short: 0, cool: 0, previous: 0, same: 0, repeats: 0, hourMean: new Array<number>(HOURS).fill(0), hourCount: new Array<number>(HOURS).fill(0) };
}

/** The hour of the day (UTC) of an event time in ms, 0 to 23. */
export function hourOf(ms: number): number {
  return ((Math.floor(ms / HOUR_MS) % HOURS) + HOURS) % HOURS;
}

/** The value's residual against its hour's mean (the overall mean for an hour not yet seen), then that hour's mean updated. */
function residual(st: BaselineState, value: number, hour: number, p: BaselineParams): number {
  st.all = st.n === 0 ? value : st.all + Math.max(2 / (p.baselineLong + 1), 1 / (st.n + 1)) * (value - st.all);
  if (p.baselineHourSpan <= 0) return value;
  const seen = st.hourCount[hour]!;
  const before = seen > 0 ? st.hourMean[hour]! : st.all;
  st.hourMean[hour] = seen > 0 ? before + Math.max(1 / p.baselineHourSpan, 1 / (seen + 1)) * (value - before) : value;
  st.hourCount[hour] = Math.min(seen + 1, p.baselineHourSpan);
  return value - before;
}

/** How far the residual and its short average lie from the long-run baseline, in standard deviations (0 on a zero variance). */
interface Deviation {
  z: number;
  shortZ: number;
}

/** Folds a residual into the long-run baseline and the short average; returns its deviation from the baseline before it. */
function deviation(st: BaselineState, y: number, p: BaselineParams): Deviation {
  const sd = Math.sqrt(st.variance);
  st.short = st.n === 0 ? y : st.short + (2 / (p.baselineShort + 1)) * (y - st.short);
  const scored = st.n > 1 && sd > 0;
  const out = { z: scored ? (y - st.mean) / sd : 0, shortZ: scored ? (st.short - st.mean) / sd : 0 };
  const rate = Math.max(2 / (p.baselineLong + 1), 1 / (st.n + 1));
  const d = y - st.mean;
  st.mean += rate * d;
  st.variance = (1 - rate) * (st.variance + rate * d * d);
  st.n += 1;
  return out;
}

/** Folds a value into the run of identical values (after `deviation` counted it); true when the run makes a flatline. */
function flatline(st: BaselineState, value: number, p: BaselineParams): boolean {
  const repeat = st.n > 1 && value === st.previous;
  st.same = repeat ? st.same + 1 : 1;
  const flat = p.baselineFlatRun > 0 && st.same === p.baselineFlatRun && st.repeats < p.baselineFlatShare;
  st.repeats += Math.max(2 / (p.baselineLong + 1), 1 / st.n) * ((repeat ? 1 : 0) - st.repeats);
  st.previous = value;
  return flat;
}

/** What one value did: whether a test fired on it (spike, level or flatline), and whether it raised an alert (past the warm-up and the refractory). */
export interface BaselineStep {
  firing: boolean;
  alert: boolean;
}

/** Moves a series on by one value (event time `ms`). */
export function baselineStep(st: BaselineState, value: number, ms: number, p: BaselineParams): BaselineStep {
  const dev = deviation(st, residual(st, value, hourOf(ms), p), p);
  const flat = flatline(st, value, p);
  const firing = flat || (p.baselineSpikeZ > 0 && Math.abs(dev.z) >= p.baselineSpikeZ) || (p.baselineLevelZ > 0 && Math.abs(dev.shortZ) >= p.baselineLevelZ);
  if (st.cool > 0) {
    st.cool -= 1;
    return { firing, alert: false };
  }
  if (st.n <= p.baselineWarmup || !firing) return { firing, alert: false };
  st.cool = p.baselineRefractory;
  return { firing, alert: true };
}
