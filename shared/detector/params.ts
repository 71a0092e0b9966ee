/** The detector's parameters: the one definition, shared by the config, the API echo, the reference and the tools. */
export interface DetectorParams {
  /** Values per rolling window (W). */
  readonly windowSize: number;
  /** A value is an anomaly when |z| exceeds this. */
  readonly zThreshold: number;
  /** Earlier values needed before anything is flagged or scored. */
  readonly minSamples: number;
  /** Span (values) of the short moving average of scores that the likelihood judges. */
  readonly likelihoodShort: number;
  /** Span (values) of the long-run distribution of that average: what is usual for this series. */
  readonly likelihoodLong: number;
  /** What opens an episode: the alert of the baseline method (shared/detector/baseline.ts), the per-value flag, or the likelihood (and, if set, an extreme score). */
  readonly episodeTrigger: EpisodeTrigger;
  /** With trigger `likelihood`: a likelihood at least this high is unusual. */
  readonly episodeLikelihood: number;
  /** With trigger `likelihood`: a score at least this high is unusual too (0 = off). */
  readonly episodeScore: number;
  /** An open episode closes after this many usual values in a row. */
  readonly episodeCloseAfter: number;
  /** Values after an episode closes during which no new one opens. */
  readonly episodeRefractory: number;
  /** With trigger `likelihood`: this many identical values in a row, in a window that held others, are unusual (a stuck sensor; 0 = off). */
  readonly episodeFlatline: number;
  /** With trigger `likelihood`: for a series' first this many scored values, while its likelihood is still learning, the flag is unusual too (0 = off). */
  readonly episodeWarmup: number;
  /** Trigger `baseline` (shared/detector/baseline.ts): span (values) of the residual's long-run mean and variance. */
  readonly baselineLong: number;
  /** Span (values) of the residual's short average. */
  readonly baselineShort: number;
  /** |z| of one residual that fires the spike test (0 = off). */
  readonly baselineSpikeZ: number;
  /** |z| of the short average, in long-run standard deviations, that fires the level test (0 = off). */
  readonly baselineLevelZ: number;
  /** Values after an alert during which no new one is raised. */
  readonly baselineRefractory: number;
  /** Values of a new series that never alert. */
  readonly baselineWarmup: number;
  /** Span (updates of one hour's mean) of the hour-of-day means (0 = no hour-of-day baseline). */
  readonly baselineHourSpan: number;
  /** Identical values in a row that fire the flatline test (0 = off)... */
  readonly baselineFlatRun: number;
  /** ...in a series whose values repeat their predecessor less than this share of the time. */
  readonly baselineFlatShare: number;
}

export const EPISODE_TRIGGERS = ['baseline', 'flag', 'likelihood'] as const;
export type EpisodeTrigger = (typeof EPISODE_TRIGGERS)[number];

const NAMES = [
  'windowSize', 'zThreshold', 'minSamples', 'likelihoodShort', 'likelihoodLong', 'episodeTrigger',
  'episodeLikelihood', 'episodeScore', 'episodeCloseAfter', 'episodeRefractory', 'episodeFlatline', 'episodeWarmup',
  'baselineLong', 'baselineShort', 'baselineSpikeZ', 'baselineLevelZ', 'baselineRefractory', 'baselineWarmup',
  'baselineHourSpan', 'baselineFlatRun', 'baselineFlatShare',
] as const satisfies ReadonlyArray<keyof DetectorParams>;

/** Just the detector's parameters out of a larger object (such as the Config). */
export function detectorParams(source: DetectorParams): DetectorParams {
  return Object.fromEntries(NAMES.map((name) => [name, source[name]])) as unknown as DetectorParams;
}

/** The parameters as the API shows them next to results (snake_case, like the rest of the API). */
export function detectorEcho(params: DetectorParams) {
  return Object.fromEntries(NAMES.map((name) => [snake(name), params[name]]));
}

/** The environment that gives a service process these parameters (the variables are the names in upper snake case). */
export function detectorEnv(params: DetectorParams): Record<string, string> {
  return Object.fromEntries(NAMES.map((name) => [snake(name).toUpperCase(), String(params[name])]));
}

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
