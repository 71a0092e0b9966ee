/**
 * A candidate method for alerts (docs/detection-research.md), prototyped here before it is ported to Lua:
 * O(1) state per series, simple arithmetic per value, one parameter set for every series.
 *
 * - hour-of-day baseline: each value minus the running mean of the values seen at the same hour of the
 *   day (24 means keyed from the event time): a daily cycle leaves a residual near 0; a series without
 *   one has 24 means close to its overall mean, so its residual is its deviation from that mean.
 * - long baseline of the residual: its exponentially weighted mean and variance over LONG values (a
 *   running mean and variance while fewer have been seen).
 * - spike: the residual's |z| against that baseline reaches SPIKE_Z (one value far out).
 * - level: the short average (EWMA over SHORT values) of the residual, in long-run standard deviations,
 *   reaches LEVEL_Z (a shift, or a burst, that no single value makes extreme).
 * - flatline: FLAT_RUN identical values in a row, in a series whose values repeat their predecessor less
 *   than FLAT_SHARE of the time (a stuck sensor or a dead exporter, which no z-score sees; a quantised
 *   series that often repeats is left alone).
 * - warm-up and refractory: no alert in the first WARMUP values, nor in the REFRACTORY values after an alert.
 */

/** The candidate's parameters: one set for every series. */
export interface CandidateParams {
  /** Span (values) of the residual's long-run mean and variance. */
  readonly long: number;
  /** Span (values) of the residual's short average. */
  readonly short: number;
  /** |z| of one residual at which it alerts (0: off). */
  readonly spikeZ: number;
  /** |z| of the short average, in long-run standard deviations, at which it alerts (0: off). */
  readonly levelZ: number;
  /** Values after an alert during which no new alert is raised. */
  readonly refractory: number;
  /** Values of a new series that never alert. */
  readonly warmup: number;
  /** Span (updates of one hour's mean) of the hour-of-day means; 0: no hour-of-day baseline. */
  readonly hourSpan: number;
  /** Identical values in a row that alert (0: off)... */
  readonly flatRun: number;
  /** ...in a series whose values repeat their predecessor less than this share of the time. */
  readonly flatShare: number;
}

export const CANDIDATE_DEFAULTS: CandidateParams = { long: 8000, short: 10, spikeZ: 6, levelZ: 3, refractory: 50, warmup: 100, hourSpan: 100, flatRun: 10, flatShare: 0.2 };

export const HOURS = 24;
const HOUR_MS = 3_600_000;

/** What the candidate keeps per series: 9 numbers, and 24 means and 24 counts (one per hour of the day). */
export interface CandidateState {
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

export function emptyCandidate(): CandidateState {
  return { n: 0, all: 0, mean: 0, variance: 0, short: 0, cool: 0, previous: 0, same: 0, repeats: 0, hourMean: new Array<number>(HOURS).fill(0), hourCount: new Array<number>(HOURS).fill(0) };
}

/** The hour of the day (UTC) of an event time in ms, 0 to 23. */
export function hourOf(ms: number): number {
  return ((Math.floor(ms / HOUR_MS) % HOURS) + HOURS) % HOURS;
}

/** The value's residual against its hour's mean (the overall mean for an hour not yet seen), then that hour's mean updated. */
function residual(st: CandidateState, value: number, hour: number, p: CandidateParams): number {
  st.all = st.n === 0 ? value : st.all + Math.max(2 / (p.long + 1), 1 / (st.n + 1)) * (value - st.all);
  if (p.hourSpan <= 0) return value;
  const seen = st.hourCount[hour]!;
  const before = seen > 0 ? st.hourMean[hour]! : st.all;
  st.hourMean[hour] = seen > 0 ? before + Math.max(1 / p.hourSpan, 1 / (seen + 1)) * (value - before) : value;
  st.hourCount[hour] = Math.min(seen + 1, p.hourSpan);
  return value - before;
}

/** How far the residual and its short average lie from the long-run baseline, in standard deviations (0 on a zero variance). */
interface Deviation {
  z: number;
  shortZ: number;
}

/** Folds a residual into the long-run baseline and the short average; returns its deviation from the baseline before it. */
function deviation(st: CandidateState, y: number, p: CandidateParams): Deviation {
  const sd = Math.sqrt(st.variance);
  st.short = st.n === 0 ? y : st.short + (2 / (p.short + 1)) * (y - st.short);
  const scored = st.n > 1 && sd > 0;
  const out = { z: scored ? (y - st.mean) / sd : 0, shortZ: scored ? (st.short - st.mean) / sd : 0 };
  const rate = Math.max(2 / (p.long + 1), 1 / (st.n + 1));
  const d = y - st.mean;
  st.mean += rate * d;
  st.variance = (1 - rate) * (st.variance + rate * d * d);
  st.n += 1;
  return out;
}

/** Folds a value into the run of identical values (after `deviation` counted it); true when the run makes a flatline. */
function flatline(st: CandidateState, value: number, p: CandidateParams): boolean {
  const repeat = st.n > 1 && value === st.previous;
  st.same = repeat ? st.same + 1 : 1;
  const flat = p.flatRun > 0 && st.same === p.flatRun && st.repeats < p.flatShare;
  st.repeats += Math.max(2 / (p.long + 1), 1 / st.n) * ((repeat ? 1 : 0) - st.repeats);
  st.previous = value;
  return flat;
}

/** Whether a deviation is unusual enough to alert: a spike, or a level away from the baseline. */
export function isAlarming(dev: Deviation, p: CandidateParams): boolean {
  return (p.spikeZ > 0 && Math.abs(dev.z) >= p.spikeZ) || (p.levelZ > 0 && Math.abs(dev.shortZ) >= p.levelZ);
}

/** Moves a series on by one value (event time `ms`); true when the value raises an alert. */
export function candidateStep(st: CandidateState, value: number, ms: number, p: CandidateParams = CANDIDATE_DEFAULTS): boolean {
  const dev = deviation(st, residual(st, value, hourOf(ms), p), p);
  const flat = flatline(st, value, p);
  if (st.cool > 0) {
    st.cool -= 1;
    return false;
  }
  if (st.n <= p.warmup || !(flat || isAlarming(dev, p))) return false;
  st.cool = p.refractory;
  return true;
}

/** Runs a whole series through the candidate from an empty state: per value, whether it raised an alert. */
export function candidateAlerts(values: readonly number[], times: readonly number[], p: CandidateParams = CANDIDATE_DEFAULTS): boolean[] {
  const st = emptyCandidate();
  return values.map((value, i) => candidateStep(st, value, times[i] ?? i, p));
}
