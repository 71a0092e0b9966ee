// The reference's math at its edges, as pure functions (no servers): the Lua is compared with it value
// by value elsewhere (test/integration/lua-reference*.test.ts), which cannot reach these exact edges by chance.
import { describe, expect, it } from 'vitest';
import { emptyDetection, likelihoodStep, normalCdf, normalQuantile, scoreOf, thresholdsOf } from '../../shared/detector/detection.js';
import { PROFILES } from '../../shared/detector/profiles.js';
import { type DetectorParams, replay } from '../../shared/detector/reference.js';

/** The infra profile with episodes opened by the likelihood (its own trigger until the baseline method became every profile's). */
const LIKELIHOOD_PROFILE: DetectorParams = { ...PROFILES.infra, episodeTrigger: 'likelihood' };

describe('the normal quantile', () => {
  it.each([
    [0.5, 0],
    [0.975, 1.959963985],
    [0.01, -2.326347874], // lower tail (below 0.02425)
    [0.02425, -1.972961036],
    [1e-5, -4.264890794],
    [1 - 1e-9, 5.997807015], // upper tail, from 1 − p
    [0.99999999, 5.612001244],
  ])('Φ⁻¹(%d) = %d', (p, x) => {
    // Acklam's approximation: within 1e-9 in the centre, 6e-6 relative in the tails.
    expect(Math.abs(normalQuantile(p) - x)).toBeLessThanOrEqual(6e-6 * Math.max(1, Math.abs(x)));
    expect(Math.abs(normalCdf(normalQuantile(p)) - p)).toBeLessThanOrEqual(5e-5 * Math.min(p, 1 - p) + 1e-7);
  });

  it('is −∞ at 0 and below, ∞ at 1 and above', () => {
    expect([normalQuantile(0), normalQuantile(-0.1), normalQuantile(1), normalQuantile(1.5)]).toEqual([-Infinity, -Infinity, Infinity, Infinity]);
  });

  it('gives the thresholds as they are compared: Φ⁻¹(EPISODE_LIKELIHOOD), and the |z| whose score is EPISODE_SCORE', () => {
    const cuts = thresholdsOf({ ...LIKELIHOOD_PROFILE, episodeLikelihood: 0.975, episodeScore: 0.95 });
    expect(cuts.likelihoodX).toBeCloseTo(1.959964, 5);
    expect(cuts.scoreZ).toBeCloseTo(1.959964, 5); // a score of 0.95 is |z| = 1.96
    expect(scoreOf(cuts.scoreZ, true)).toBeCloseTo(0.95, 6);
    expect(thresholdsOf({ ...LIKELIHOOD_PROFILE, episodeLikelihood: 1, episodeScore: 1 })).toEqual({ likelihoodX: Infinity, scoreZ: Infinity });
  });
});

describe('the likelihood step', () => {
  it('while learning: 0.5, and high only for a threshold of 0.5', () => {
    const p = { ...LIKELIHOOD_PROFILE, likelihoodLong: 1000 };
    expect(likelihoodStep(emptyDetection(), 3, p, 0)).toEqual({ likelihood: 0.5, high: true });
    expect(likelihoodStep(emptyDetection(), 3, p, 0.1)).toEqual({ likelihood: 0.5, high: false });
  });
});

describe('the reference at the episode edges', () => {
  // Baseline 10, 12, … (mean 11, σ 1); 15 has z = 4. Scored from the 5th value; index 10 is the 6th scored.
  const values = Array.from({ length: 40 }, (_, i) => (i === 10 || i === 30 ? 15 : i % 2 ? 12 : 10));
  const learning: DetectorParams = { ...LIKELIHOOD_PROFILE, windowSize: 20, minSamples: 5, likelihoodLong: 10_000, episodeScore: 0 };
  const opened = (params: DetectorParams) => replay(values, params).flatMap((o, i) => (o.episode === 'opened' ? [i] : []));

  it('counts the flag for the first EPISODE_WARMUP scored values, the last of them included', () => {
    expect(opened({ ...learning, episodeWarmup: 6 })).toEqual([10]);
    expect(opened({ ...learning, episodeWarmup: 5 })).toEqual([]);
    expect(opened({ ...learning, episodeWarmup: 26 })).toEqual([10, 30]);
  });

  it('takes a deviation from a zero-variance baseline as extreme even for EPISODE_SCORE = 1', () => {
    const flat = [...Array(10).fill(7), 8];
    const out = replay(flat, { ...LIKELIHOOD_PROFILE, windowSize: 20, minSamples: 5, episodeWarmup: 0, episodeFlatline: 0, episodeScore: 1 });
    expect(out.map((o) => o.episode)).toEqual([...Array(10).fill(null), 'opened']);
    expect(out[10]).toMatchObject({ zscore: null, score: 1 });
  });
});
