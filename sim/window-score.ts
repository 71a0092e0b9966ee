// Window-based scoring of a detector the way the Numenta Anomaly Benchmark does it (Lavin & Ahmad 2015,
// and the scorer of NAB v1.x, whose rules are the reference where the paper leaves details open).
// Pure: series in, scores out.

/** An anomaly window: every value from `start` to `end` (ms, both included) belongs to one anomaly. */
export interface Window {
  start: number;
  end: number;
}

/** One series: its times (ascending), whether the detector alerted at each, and its anomaly windows. */
export interface WindowSeries {
  timestamps: readonly number[];
  detections: readonly boolean[];
  windows: readonly Window[];
}

/** The weights of an application profile: reward of an early detection, cost of a false positive and of a miss. */
export interface Profile {
  tp: number;
  fp: number;
  fn: number;
}

/** NAB's three application profiles (config/profiles.json of NAB). */
export const PROFILES = {
  standard: { tp: 1, fp: 0.11, fn: 1 },
  reward_low_FP_rate: { tp: 1, fp: 0.22, fn: 1 },
  reward_low_FN_rate: { tp: 1, fp: 0.11, fn: 2 },
} as const satisfies Record<string, Profile>;

export type ProfileName = keyof typeof PROFILES;
export const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[];

export interface WindowScore {
  /** The detector's score: the sum of the rewards and costs below. */
  raw: number;
  /** What a detector that never alerts scores: every window missed. */
  nullScore: number;
  /** What a detector that alerts at the start of every window, and nowhere else, scores. */
  perfectScore: number;
  /** Detections inside scored windows (only the earliest of each window earns its reward). */
  tp: number;
  /** Detections outside every window, after the probationary period: each one costs. */
  fp: number;
  /** Scored windows without any detection. */
  fn: number;
  /** Scored windows with at least one detection. */
  detectedWindows: number;
  /** Scored windows: those that start after the probationary period. */
  windows: number;
  /** Detections in the probationary period (not scored): what a new series costs while the detector learns. */
  probationDetections: number;
  /** Series scored (1 for one series; summed over many). */
  series: number;
}

/** NAB does not score the first 15% of each series (at most 750 values): the detector is still learning. */
export function probationLength(values: number): number {
  return Math.min(Math.floor(0.15 * values), 0.15 * 5000);
}

/**
 * NAB's scaled sigmoid of a position relative to a window's end: -1 is the window's first value
 * (0.9866), 0 its last (0), 1 a window's length after it (-0.9866); beyond 3 it is -1.
 */
export function scaledSigmoid(position: number): number {
  return position > 3 ? -1 : 2 / (1 + Math.exp(5 * position)) - 1;
}

/** A window as the indexes of its first and last value in the series. */
interface Span {
  first: number;
  last: number;
}

/** The index of the first time after `t` (or at it, with `orAt`): a binary search of the ascending times. */
function firstAfter(timestamps: readonly number[], t: number, orAt: boolean): number {
  let lo = 0;
  let hi = timestamps.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (timestamps[mid]! > t || (orAt && timestamps[mid] === t)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The windows' spans in this series, in order, overlapping ones merged; a window holding no value is dropped. */
function spans(timestamps: readonly number[], windows: readonly Window[]): Span[] {
  const out: Span[] = [];
  for (const w of [...windows].sort((a, b) => a.start - b.start)) {
    const first = firstAfter(timestamps, w.start, true);
    const last = firstAfter(timestamps, w.end, false) - 1;
    if (last < first) continue;
    const previous = out.at(-1);
    if (previous && first <= previous.last) previous.last = Math.max(previous.last, last);
    else out.push({ first, last });
  }
  return out;
}

/** The reward of a window's earliest detection at index i: the full A_TP at its first value, little at its last. */
function tpReward(span: Span, i: number, profile: Profile): number {
  const length = span.last - span.first + 1;
  // NAB v1.x: -(last - i + 1) / length, so the first value is exactly -1, then scaled so that it earns A_TP.
  return (profile.tp * scaledSigmoid(-(span.last - i + 1) / length)) / scaledSigmoid(-1);
}

/** The cost of a false positive at index i: A_FP, less when it comes soon after the end of a window. */
function fpCost(previous: Span | undefined, i: number, profile: Profile): number {
  if (!previous) return -profile.fp;
  // Distance past the window's end, in window lengths (NAB: |last - i| / (length - 1); a one-value window counts as 1).
  return profile.fp * scaledSigmoid((i - previous.last) / Math.max(previous.last - previous.first, 1));
}

/**
 * Scores one series under one profile, as NAB does: the earliest detection in each window earns a
 * reward on the scaled sigmoid of its position, a window without detection costs A_FN, and each
 * detection outside the windows costs up to A_FP, less when it follows a window closely. Detections
 * in the probationary period, and windows that start in it, are not scored.
 */
export function windowScore(series: WindowSeries, profile: Profile = PROFILES.standard): WindowScore {
  const n = series.timestamps.length;
  const probation = probationLength(n);
  const all = spans(series.timestamps, series.windows);
  const detected = new Set<Span>();
  let raw = 0;
  let tp = 0;
  let fp = 0;
  let next = 0;
  let previous: Span | undefined;
  for (let i = probation; i < n; i++) {
    while (next < all.length && all[next]!.last < i) previous = all[next++];
    if (!series.detections[i]) continue;
    const inside = next < all.length && all[next]!.first <= i ? all[next]! : undefined;
    if (!inside) {
      fp++;
      raw += fpCost(previous, i, profile);
    } else if (inside.first >= probation) {
      tp++;
      if (!detected.has(inside)) raw += tpReward(inside, i, profile);
      detected.add(inside);
    }
  }
  const windows = all.filter((s) => s.first >= probation).length;
  const fn = windows - detected.size;
  raw -= fn * profile.fn;
  const probationDetections = series.detections.slice(0, probation).filter(Boolean).length;
  // 0 − …, not −…: no −0 for a series without windows.
  return { raw, nullScore: 0 - windows * profile.fn, perfectScore: windows * profile.tp, tp, fp, fn, detectedWindows: detected.size, windows, probationDetections, series: 1 };
}

/** Scores added up, as NAB does over a corpus before normalising. */
export function addScores(scores: readonly WindowScore[]): WindowScore {
  const total: WindowScore = { raw: 0, nullScore: 0, perfectScore: 0, tp: 0, fp: 0, fn: 0, detectedWindows: 0, windows: 0, probationDetections: 0, series: 0 };
  for (const s of scores) for (const key of Object.keys(total) as Array<keyof WindowScore>) total[key] += s[key];
  return total;
}

/** 100 · (S − S_null) / (S_perfect − S_null): 100 is perfect, 0 never alerting; null when there is no window to score. */
export function normalise(score: Pick<WindowScore, 'raw' | 'nullScore' | 'perfectScore'>): number | null {
  const range = score.perfectScore - score.nullScore;
  return range === 0 ? null : (100 * (score.raw - score.nullScore)) / range;
}

/** Each profile's summed score over some series, and its normalised value. */
export type ProfileScores = Record<ProfileName, WindowScore & { score: number | null }>;

function withScore(total: WindowScore): WindowScore & { score: number | null } {
  return { ...total, score: normalise(total) };
}

/** Scores series under every profile, summed over the series (the series of one file, say). */
export function scoreProfiles(series: readonly WindowSeries[]): ProfileScores {
  const entries = PROFILE_NAMES.map((name) => [name, withScore(addScores(series.map((s) => windowScore(s, PROFILES[name]))))]);
  return Object.fromEntries(entries) as ProfileScores;
}

/** Profile scores added up (files of a corpus), normalised again over the sum. */
export function addProfileScores(list: readonly ProfileScores[]): ProfileScores {
  return Object.fromEntries(PROFILE_NAMES.map((name) => [name, withScore(addScores(list.map((p) => p[name])))])) as ProfileScores;
}

/** Windows from per-value labels: each run of consecutive labelled values, from its first time to its last. */
export function windowsFromLabels(timestamps: readonly number[], labelled: readonly boolean[]): Window[] {
  const windows: Window[] = [];
  labelled.forEach((on, i) => {
    if (!on) return;
    const t = timestamps[i]!;
    if (i > 0 && labelled[i - 1]) windows.at(-1)!.end = t;
    else windows.push({ start: t, end: t });
  });
  return windows;
}
