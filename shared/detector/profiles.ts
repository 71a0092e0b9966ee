import type { DetectorParams } from './params.js';

/**
 * The alert method of every profile (trigger `baseline`, shared/detector/baseline.ts): one parameter
 * set, chosen on the Numenta Anomaly Benchmark (docs/detection-research.md), for every series.
 */
const BASELINE = {
  episodeTrigger: 'baseline',
  baselineLong: 8000,
  baselineShort: 10,
  baselineSpikeZ: 6,
  baselineLevelZ: 3,
  baselineRefractory: 50,
  baselineWarmup: 100,
  baselineHourSpan: 100,
  baselineFlatRun: 10,
  baselineFlatShare: 0.2,
} as const;

/**
 * Named parameter sets (DETECTOR_PROFILE); any single variable still overrides its profile's value.
 * Both alert by the baseline method. `default` flags values as the source services did, flag for flag
 * (2σ over 50 values). `infra` flags against a longer window (300 values, 30 before the first flag)
 * and keeps the likelihood's parameters it was tuned with on the simulator's presets, for
 * EPISODE_TRIGGER=likelihood.
 */
export const PROFILES = {
  default: {
    windowSize: 50,
    zThreshold: 2,
    minSamples: 10,
    likelihoodShort: 10,
    likelihoodLong: 1000,
    episodeLikelihood: 0.9999,
    episodeScore: 0,
    episodeCloseAfter: 5,
    episodeRefractory: 0,
    episodeFlatline: 0,
    episodeWarmup: 0,
    ...BASELINE,
  },
  infra: {
    windowSize: 300,
    zThreshold: 2,
    minSamples: 30,
    likelihoodShort: 30,
    likelihoodLong: 5000,
    episodeLikelihood: 0.99999999,
    episodeScore: 0.99999999,
    episodeCloseAfter: 2,
    episodeRefractory: 2,
    episodeFlatline: 10,
    episodeWarmup: 500,
    ...BASELINE,
  },
} as const satisfies Record<string, DetectorParams>;

export type ProfileName = keyof typeof PROFILES;
export const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[];
