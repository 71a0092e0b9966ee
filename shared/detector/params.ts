/** The detector's parameters: the one definition, shared by the config, the API echo, the reference and the tools. */
export interface DetectorParams {
  /** Values per rolling window (W). */
  readonly windowSize: number;
  /** A value is an anomaly when |z| exceeds this. */
  readonly zThreshold: number;
  /** Earlier values needed before anything is flagged. */
  readonly minSamples: number;
}

/** Just the detector's parameters out of a larger object (such as the Config). */
export function detectorParams({ windowSize, zThreshold, minSamples }: DetectorParams): DetectorParams {
  return { windowSize, zThreshold, minSamples };
}

/** The parameters as the API shows them next to results (snake_case, like the rest of the API). */
export function detectorEcho({ windowSize, zThreshold, minSamples }: DetectorParams) {
  return { window_size: windowSize, z_threshold: zThreshold, min_samples: minSamples };
}
