// The detectors the offline evaluation can run: the service's reference, or the candidate method for alerts.
import { CANDIDATE_DEFAULTS, type CandidateParams, candidateAlerts } from '../shared/detector/candidate.js';
import { usageError } from '../support/cli.js';
import { type SeriesDetector, referenceDetector } from './offline.js';

export const DETECTOR_NAMES = ['reference', 'candidate'] as const;
export type DetectorName = (typeof DETECTOR_NAMES)[number];

/** The candidate: the reference's flags (unchanged, bit for bit), its own alerts. */
function candidateDetector(params: CandidateParams): SeriesDetector {
  return (values, times, detector) => ({ flags: referenceDetector(values, times, detector).flags, alerts: candidateAlerts(values, times, params) });
}

/**
 * The candidate's parameters: its defaults, with `name=value,...` overriding some of them
 * (for ablations: spikeZ=0 turns the spike test off, hourSpan=0 the hour-of-day baseline, ...).
 */
export function candidateParams(overrides = ''): CandidateParams {
  const params: Record<string, number> = { ...CANDIDATE_DEFAULTS };
  for (const item of overrides.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name = '', raw = ''] = item.split('=').map((s) => s.trim());
    const value = Number(raw);
    if (!(name in CANDIDATE_DEFAULTS)) usageError(`--candidate: no parameter "${name}" (one of ${Object.keys(CANDIDATE_DEFAULTS).join(', ')})`);
    if (raw === '' || !Number.isFinite(value) || value < 0) usageError(`--candidate: ${name} must be a number of at least 0 (got "${raw}")`);
    params[name] = value;
  }
  return params as unknown as CandidateParams;
}

/** The detector of that name. */
export function detectorNamed(name: DetectorName, overrides?: string): SeriesDetector {
  return name === 'candidate' ? candidateDetector(candidateParams(overrides)) : referenceDetector;
}
