// The infra preset: server metrics whose normal behaviour fools a naive 2σ detector (heavy tails,
// bursts of load, a periodic job, the daily cycle, stretches of more or less noise), with rare incidents.
import { type Rng, rng } from '../support/random.js';
import { type Incident, type IncidentKind, startIncident } from './infra-incidents.js';
import type { AnomalyKind, LabelledEvent } from './signals.js';

/** Probability that an incident starts, per reading and metric: about 3 per 10,000 readings of a series. */
export const INFRA_ANOMALY_RATE = 0.0003;

interface InfraMetric {
  /** the value at a load (1: the daily mean) */
  base: (load: number) => number;
  /** scale of the heavy-tailed noise, before the series' noise gain */
  noise: number;
  /** added while the periodic job runs, in deviations */
  job: number;
  min: number;
  max: number;
  /** the incidents this metric can have, with their relative weights */
  incidents: Partial<Record<IncidentKind, number>>;
}

/** A reading: base(load) + what level shifts left + noise × (job + gain × heavy-tailed draw), within min..max. */
const INFRA: Record<string, InfraMetric> = {
  cpu: { base: (l) => 8 + 30 * l, noise: 2.5, job: 10, min: 0, max: 100, incidents: { spike: 4, dip: 2, level_shift: 2, flatline: 0.7 } },
  rps: { base: (l) => 150 * l, noise: 6, job: 0, min: 0, max: 1e6, incidents: { spike: 3, dip: 3, level_shift: 2, flatline: 0.7 } },
  memory: { base: (l) => 52 + 3 * l, noise: 0.6, job: 5, min: 0, max: 100, incidents: { spike: 3, level_shift: 2, flatline: 0.7, leak: 0.5 } },
  // Latency climbs with the square of the load, as queues do.
  latency: { base: (l) => 20 * (0.7 + 0.3 * l * l), noise: 2, job: 4, min: 0.1, max: 1e5, incidents: { spike: 4, level_shift: 2, flatline: 0.7, degradation: 0.6 } },
};

/** Normal noise: Student-t with 3 degrees of freedom scaled to unit variance, redrawn beyond ±6. */
export const NOISE_LIMIT = 6;
/** Each reading, a series' noise gain changes with this probability (a change of traffic mix), to one of these. */
const REGIME_RATE = 1 / 3000;
const REGIME_GAINS = [0.5, 0.7, 1, 1.4, 2] as const;
/** Each reading, a burst of load starts with this probability: 3-12 readings at 1.1-1.4 times the load. */
const BURST_RATE = 1 / 250;
const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

/** A Student-t draw (3 degrees of freedom) of unit variance, within ±NOISE_LIMIT. */
export function heavyTailed(r: Rng): number {
  // t = z / √(χ²₃ / 3) has variance 3, so z / √χ²₃ has variance 1.
  for (;;) {
    const chi2 = r.gauss() ** 2 + r.gauss() ** 2 + r.gauss() ** 2;
    const x = r.gauss() / Math.sqrt(chi2);
    if (Math.abs(x) <= NOISE_LIMIT) return x;
  }
}

/** What makes a device's normal behaviour its own. */
export interface InfraProfile {
  /** the daily cycle: load 1 ± amplitude, peaking at a time of day set by the phase */
  dailyAmplitude: number;
  phaseMs: number;
  /** a periodic job (cron): it runs while (t - offset) mod period < duration */
  job: { periodMs: number; durationMs: number; offsetMs: number; strength: number };
}

function drawProfile(r: Rng): InfraProfile {
  const periodMs = r.pick([10, 15, 30, 60]) * MINUTE_MS;
  return {
    dailyAmplitude: 0.2 + 0.15 * r.next(),
    phaseMs: r.next() * DAY_MS,
    job: { periodMs, durationMs: r.int(3, 9) * 10_000, offsetMs: Math.floor(r.next() * periodMs), strength: 0.8 + 0.4 * r.next() },
  };
}

/** Whether the device's periodic job runs at `t`. */
export function jobRuns(profile: InfraProfile, t: number): boolean {
  const { periodMs, durationMs, offsetMs } = profile.job;
  return (((t - offsetMs) % periodMs) + periodMs) % periodMs < durationMs;
}

interface Series {
  /** noise gain of the current stretch */
  gain: number;
  /** what level shifts have left behind */
  offset: number;
  incident?: { incident: Incident; step: number };
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/**
 * A virtual server of the infra preset (see INFRA and the constants above for the normal behaviour,
 * infra-incidents.ts for the incidents). It draws from a generator of its own, seeded from `parent`,
 * so that its readings do not depend on the other devices'.
 */
export function createInfraDevice(id: string, parent: Rng, anomalyRate = INFRA_ANOMALY_RATE) {
  const r = rng(Math.floor(parent.next() * 2 ** 32));
  const profile = drawProfile(r);
  const series: Record<string, Series> = Object.fromEntries(Object.keys(INFRA).map((m) => [m, { gain: 1, offset: 0 }]));
  const burst = { left: 0, gain: 1 };

  function load(t: number): number {
    const angle = (2 * Math.PI * (t + profile.phaseMs)) / DAY_MS;
    if (burst.left > 0) burst.left--;
    else if (r.next() < BURST_RATE) Object.assign(burst, { left: r.int(3, 12) - 1, gain: 1.1 + 0.3 * r.next() });
    else burst.gain = 1;
    return (1 + profile.dailyAmplitude * (0.8 * Math.sin(angle) + 0.2 * Math.sin(2 * angle))) * burst.gain;
  }

  function reading(s: Series, model: InfraMetric, level: number, job: boolean): [number, AnomalyKind | null] {
    if (r.next() < REGIME_RATE) s.gain = r.pick(REGIME_GAINS);
    const clamp = (x: number) => round2(Math.min(model.max, Math.max(model.min, x)));
    const jobShare = job ? model.job * profile.job.strength : 0;
    const normal = clamp(model.base(level) + s.offset + model.noise * (jobShare + s.gain * heavyTailed(r)));
    if (!s.incident && r.next() < anomalyRate) {
      s.incident = { incident: startIncident(r, model.incidents, model.noise, normal, s.offset), step: 0 };
    }
    if (!s.incident) return [normal, null];
    const { incident, step } = s.incident;
    const label = step >= incident.labelled[0] && step < incident.labelled[1] ? incident.kind : null;
    if (++s.incident.step >= incident.length) {
      s.offset += incident.permanent ?? 0;
      delete s.incident;
    }
    return [clamp(incident.value(normal, step)), label];
  }

  return {
    id,
    profile,
    /** The reading of this device at time `t` (ms). */
    next(t: number): LabelledEvent {
      const level = load(t);
      const job = jobRuns(profile, t);
      const metrics: Record<string, number> = {};
      const labels: Record<string, AnomalyKind | null> = {};
      for (const [metric, model] of Object.entries(INFRA)) [metrics[metric], labels[metric]] = reading(series[metric]!, model, level, job);
      return { device_id: id, timestamp: t, metrics, labels };
    },
  };
}
