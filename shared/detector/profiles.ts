import type { DetectorParams } from './params.js';

/**
 * Named parameter sets (DETECTOR_PROFILE); any single variable still overrides its profile's value.
 * `default` is the source services' detector, flag for flag, with episodes that merely group flags.
 * `infra` is tuned on the simulator's presets (never on public corpora) for real infrastructure
 * metrics: a longer baseline, and episodes opened by the anomaly likelihood or an extreme score, or
 * by the flag while the likelihood is still learning (its first LIKELIHOOD_LONG / 10 scored values).
 */
export const PROFILES = {
  default: {
    windowSize: 50,
    zThreshold: 2,
    minSamples: 10,
    likelihoodShort: 10,
    likelihoodLong: 1000,
    episodeTrigger: 'flag',
    episodeLikelihood: 0.9999,
    episodeScore: 0,
    episodeCloseAfter: 5,
    episodeRefractory: 0,
    episodeFlatline: 0,
    episodeWarmup: 0,
  },
  infra: {
    windowSize: 300,
    zThreshold: 2,
    minSamples: 30,
    likelihoodShort: 30,
    likelihoodLong: 5000,
    episodeTrigger: 'likelihood',
    episodeLikelihood: 0.99999999,
    episodeScore: 0.99999999,
    episodeCloseAfter: 2,
    episodeRefractory: 2,
    episodeFlatline: 10,
    episodeWarmup: 500,
  },
} as const satisfies Record<string, DetectorParams>;

export type ProfileName = keyof typeof PROFILES;
export const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[];
