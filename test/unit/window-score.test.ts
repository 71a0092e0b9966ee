import { describe, expect, it } from 'vitest';
import {
  PROFILES,
  type Window,
  addProfileScores,
  addScores,
  normalise,
  probationLength,
  scaledSigmoid,
  scoreProfiles,
  windowScore,
  windowsFromLabels,
} from '../../sim/window-score.js';

// A series of 100 values one second apart: the first 15 (15%) are the probationary period.
const times = Array.from({ length: 100 }, (_, i) => i * 1000);
const window = (first: number, last: number): Window => ({ start: first * 1000, end: last * 1000 });
const series = (windows: Window[], ...detections: number[]) => ({
  timestamps: times,
  detections: times.map((_, i) => detections.includes(i)),
  windows,
});
const close = (digits = 5) => (x: number) => expect.closeTo(x, digits);

// σ(y) = 2 / (1 + e^(5y)) − 1 throughout.
describe('the scaled sigmoid', () => {
  it('is 0.9866 at a window start, 0 at its end, -0.9866 a window length after, -1 beyond 3', () => {
    // e^-5 = 0.0067379: 2 / 1.0067379 − 1 = 0.986614
    expect(scaledSigmoid(-1)).toBeCloseTo(0.986614, 6);
    // e^-2.5 = 0.0820850: 2 / 1.0820850 − 1 = 0.848284
    expect(scaledSigmoid(-0.5)).toBeCloseTo(0.848284, 6);
    expect(scaledSigmoid(0)).toBe(0);
    expect(scaledSigmoid(1)).toBeCloseTo(-0.986614, 6);
    expect(scaledSigmoid(3.01)).toBe(-1);
  });
});

describe('one series, standard profile (A_TP 1, A_FP 0.11, A_FN 1)', () => {
  it('rewards a detection at the window start with the full A_TP (σ(−1) = 0.9866, scaled by 1/σ(−1) as NAB does)', () => {
    const s = windowScore(series([window(50, 59)], 50));
    expect(s).toEqual({ raw: 1, nullScore: -1, perfectScore: 1, tp: 1, fp: 0, fn: 0, detectedWindows: 1, windows: 1, probationDetections: 0, series: 1 });
    expect(normalise(s)).toBe(100);
  });

  it('rewards a detection at the window end with almost nothing', () => {
    // Ten values: position −(59 − 59 + 1) / 10 = −0.1; σ(−0.1) = 2 / (1 + e^-0.5) − 1 = 0.244919; / 0.986614 = 0.248242
    const short = windowScore(series([window(50, 59)], 59));
    expect(short.raw).toBeCloseTo(0.248242, 5);
    // normalised: 100 · (0.248242 + 1) / (1 + 1) = 62.4121
    expect(normalise(short)).toBeCloseTo(62.4121, 3);
    // Eighty values: position −1/80; σ(−0.0125) = 2 / (1 + e^-0.0625) − 1 = 0.031240; / 0.986614 = 0.031664
    expect(windowScore(series([window(20, 99)], 99)).raw).toBeCloseTo(0.031664, 5);
  });

  it('rewards a detection half-way through less than one at the start', () => {
    // Position −(59 − 52 + 1) / 10 = −0.8; σ(−0.8) = 2 / (1 + e^-4) − 1 = 0.964028; / 0.986614 = 0.977108
    expect(windowScore(series([window(50, 59)], 52)).raw).toBeCloseTo(0.977108, 5);
  });

  it('costs A_FN for a missed window, which is exactly the null score', () => {
    const s = windowScore(series([window(50, 59)]));
    expect(s).toMatchObject({ raw: -1, nullScore: -1, fn: 1, tp: 0, detectedWindows: 0 });
    expect(normalise(s)).toBe(0);
  });

  it('costs a false positive right after a window less than one far after it', () => {
    // Window of 11 values (length − 1 = 10), detected at its start: +1.
    // FP at 61: position (61 − 60) / 10 = 0.1; σ(0.1) = −0.244919; · 0.11 = −0.026941
    expect(windowScore(series([window(50, 60)], 50, 61)).raw).toBeCloseTo(1 - 0.026941, 5);
    // FP at 70: position 1; σ(1) = −0.986614; · 0.11 = −0.108528
    expect(windowScore(series([window(50, 60)], 50, 70)).raw).toBeCloseTo(1 - 0.108528, 5);
    // FP at 91: position 3.1 > 3, the full −0.11
    const far = windowScore(series([window(50, 60)], 50, 91));
    expect(far).toMatchObject({ raw: close()(0.89), tp: 1, fp: 1 });
  });

  it('costs the full A_FP for a false positive that no window precedes', () => {
    // +1 for the window, −0.11 for the FP at 20; normalised 100 · (0.89 + 1) / 2 = 94.5
    const s = windowScore(series([window(50, 59)], 20, 50));
    expect(s.raw).toBeCloseTo(0.89, 10);
    expect(normalise(s)).toBeCloseTo(94.5, 8);
  });

  it('ignores detections in the probationary period, and windows that start in it', () => {
    expect(windowScore(series([window(50, 59)], 5, 50))).toMatchObject({ raw: 1, fp: 0, probationDetections: 1 });
    // The window 10-20 starts at value 10 < 15: not scored, and the detection inside it is neither TP nor FP.
    const s = windowScore(series([window(10, 20)], 18));
    expect(s).toEqual({ raw: 0, nullScore: 0, perfectScore: 0, tp: 0, fp: 0, fn: 0, detectedWindows: 0, windows: 0, probationDetections: 0, series: 1 });
    // Counted up to the last value of the period (14 of 100), not the first scored one (15).
    expect(windowScore(series([], 0, 3, 14, 15, 16))).toMatchObject({ probationDetections: 3, fp: 2 });
    expect(normalise(s)).toBeNull();
    expect(probationLength(100)).toBe(15);
    // NAB caps the period at 15% of 5000 values.
    expect(probationLength(10_000)).toBe(750);
  });

  it('counts two detections in one window once: only the earliest earns the reward', () => {
    const s = windowScore(series([window(50, 59)], 50, 55));
    expect(s).toMatchObject({ raw: 1, tp: 2, fp: 0, detectedWindows: 1 });
    expect(windowScore(series([window(50, 59)], 57, 52)).raw).toBeCloseTo(0.977108, 5);
  });

  it('scores a one-value window: detected at it, +A_TP; a detection one value later, position 1', () => {
    expect(windowScore(series([window(50, 50)], 50)).raw).toBe(1);
    expect(windowScore(series([window(50, 50)], 51)).raw).toBeCloseTo(-1 - 0.108528, 5);
  });

  it('gives 0 to a detector that never alerts and 100 to one that alerts at the start of every window', () => {
    const windows = [window(30, 39), window(60, 79)];
    expect(normalise(windowScore(series(windows)))).toBe(0);
    expect(normalise(windowScore(series(windows, 30, 60)))).toBe(100);
  });

  it('merges overlapping windows and drops a window that holds no value', () => {
    const s = windowScore(series([window(50, 59), window(55, 65), { start: 200_000, end: 300_000 }], 50));
    expect(s).toMatchObject({ windows: 1, raw: 1 });
  });
});

describe('the profiles', () => {
  it('are NAB’s three cost matrices', () => {
    expect(PROFILES).toEqual({
      standard: { tp: 1, fp: 0.11, fn: 1 },
      reward_low_FP_rate: { tp: 1, fp: 0.22, fn: 1 },
      reward_low_FN_rate: { tp: 1, fp: 0.11, fn: 2 },
    });
  });

  it('weigh a missed window and a false positive differently', () => {
    // A missed window (−A_FN) and an FP at 20 that no window precedes (−A_FP).
    const p = scoreProfiles([series([window(50, 59)], 20)]);
    // standard: −1 − 0.11 = −1.11; normalised 100 · (−1.11 + 1) / (1 + 1) = −5.5
    expect(p.standard).toMatchObject({ raw: close()(-1.11), nullScore: -1, perfectScore: 1, score: close()(-5.5) });
    // low FP: −1 − 0.22 = −1.22; 100 · (−0.22) / 2 = −11
    expect(p.reward_low_FP_rate).toMatchObject({ raw: close()(-1.22), score: close()(-11) });
    // low FN: −2 − 0.11 = −2.11; null −2, perfect 1: 100 · (−0.11) / 3 = −3.6667
    expect(p.reward_low_FN_rate).toMatchObject({ raw: close()(-2.11), nullScore: -2, score: close(3)(-3.6667) });
  });
});

describe('a corpus', () => {
  it('sums the raw, null and perfect scores over the files before normalising', () => {
    // File a: one window detected at its start: raw 1, null −1, perfect 1 (normalised 100).
    const a = scoreProfiles([series([window(50, 59)], 50)]);
    // File b: three windows missed: raw −3, null −3, perfect 3 (normalised 0).
    const b = scoreProfiles([series([window(20, 29), window(40, 49), window(60, 69)])]);
    // Together: 100 · (−2 − (−4)) / (4 − (−4)) = 25, not the mean of 100 and 0.
    expect(addProfileScores([a, b]).standard).toMatchObject({ raw: -2, nullScore: -4, perfectScore: 4, windows: 4, score: 25 });
    expect(addScores([a.standard, b.standard])).toMatchObject({ raw: -2, fn: 3, detectedWindows: 1 });
  });

  it('has no normalised score without a window, whatever the false positives', () => {
    expect(scoreProfiles([series([], 40)]).standard).toMatchObject({ raw: -0.11, fp: 1, score: null });
  });
});

describe('windows from labelled values', () => {
  it('are the runs of consecutive labelled values, from the first time to the last', () => {
    expect(windowsFromLabels([0, 10, 20, 30, 40, 50], [false, true, true, false, true, false])).toEqual([
      { start: 10, end: 20 },
      { start: 40, end: 40 },
    ]);
    expect(windowsFromLabels([0, 10], [false, false])).toEqual([]);
  });
});
