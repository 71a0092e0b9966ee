import { describe, expect, it } from 'vitest';
import { isAnomaly, moments, replay, zScore } from '../../shared/detector/reference.js';

// Episodes opened by the flag (EPISODE_TRIGGER=flag): what this file pins is the flag's semantics.
const params = { windowSize: 3, zThreshold: 1, minSamples: 2, episodeTrigger: 'flag' as const };

describe('moments', () => {
  it('gives the population mean and variance', () => {
    expect(moments([2, 4, 4, 4, 5, 5, 7, 9])).toEqual({ mean: 5, variance: 4 });
  });

  it('is exact for a constant window, whatever the value', () => {
    for (const c of [0.1, -3.3, 1e15 + 0.5, 7e-300]) {
      expect(moments(Array(1000).fill(c))).toEqual({ mean: c, variance: 0 });
    }
  });

  it('keeps its precision under a large offset', () => {
    const { mean, variance } = moments([1e12 + 1, 1e12 + 2, 1e12 + 3, 1e12 + 4]);
    expect(mean).toBe(1e12 + 2.5);
    expect(variance).toBe(1.25);
  });
});

describe('zScore', () => {
  it('measures the value against the baseline before it', () => {
    expect(zScore(9, [2, 4, 4, 4, 5, 5, 7, 9])).toBe(2);
    expect(zScore(1, [2, 4, 4, 4, 5, 5, 7, 9])).toBe(-2);
  });

  it('is 0 with no baseline, and for a constant stream', () => {
    expect(zScore(42, [])).toBe(0);
    expect(zScore(3, [3, 3, 3])).toBe(0);
  });

  it('is null (±∞) when a constant baseline meets a different value', () => {
    expect(zScore(3.0000001, [3, 3, 3])).toBeNull();
    expect(zScore(-5, [3, 3, 3])).toBeNull();
  });
});

describe('isAnomaly', () => {
  it('needs the warm-up and a |z| strictly above the threshold', () => {
    const p = { windowSize: 50, zThreshold: 2, minSamples: 10 };
    expect(isAnomaly(2.0000001, 10, p)).toBe(true);
    expect(isAnomaly(-2.5, 10, p)).toBe(true);
    expect(isAnomaly(2, 10, p)).toBe(false);
    expect(isAnomaly(50, 9, p)).toBe(false);
    expect(isAnomaly(null, 10, p)).toBe(true);
    expect(isAnomaly(null, 9, p)).toBe(false);
  });
});

describe('replay', () => {
  it('follows the semantics value by value', () => {
    const out = replay([1, 2, 3, 10, 10], params);
    const unscored = { score: 0, likelihood: 0.5, episode: null };
    expect(out[0]).toEqual({ avg: 1, zscore: 0, anomaly: false, ...unscored });
    expect(out[1]).toEqual({ avg: 1.5, zscore: null, anomaly: false, ...unscored }); // 1 earlier value: below the warm-up
    // baseline [1,2]: mean 1.5, std 0.5; the flag opens an episode (trigger `flag`)
    expect(out[2]).toMatchObject({ avg: 2, zscore: 3, anomaly: true, episode: 'opened' });
    expect(out[2]!.score).toBeCloseTo(0.9973002, 6); // P(|N(0,1)| < 3)
    expect(out[3]!.avg).toBe(5); // window [2,3,10]
    expect(out[3]!.zscore).toBeCloseTo(8 / Math.sqrt(2 / 3), 12); // baseline [1,2,3]
    expect(out[3]!.anomaly).toBe(true);
    expect(out[4]!.avg).toBeCloseTo(23 / 3, 12); // the anomalous 10 entered the window
  });

  it('never flags a constant stream', () => {
    expect(replay(Array(200).fill(7.25), { windowSize: 50, zThreshold: 2, minSamples: 10 }).some((o) => o.anomaly)).toBe(false);
  });
});
