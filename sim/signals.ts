import type { Rng } from '../support/random.js';
import { INFRA_ANOMALY_RATE, createInfraDevice } from './infra.js';

/** What was injected into one value, or null for a normal reading ('labelled' for files labelled elsewhere). */
export type AnomalyKind = 'spike' | 'dip' | 'level_shift' | 'stuck' | 'flatline' | 'leak' | 'degradation' | 'source' | 'labelled';

/** One event as the simulator sends it, with the truth about each metric. */
export interface LabelledEvent {
  device_id: string;
  /** ms since the epoch */
  timestamp: number;
  metrics: Record<string, number>;
  labels: Record<string, AnomalyKind | null>;
}

export type Preset = 'realistic' | 'source' | 'infra';
export const PRESETS: readonly Preset[] = ['realistic', 'source', 'infra'];

/** Default probability that an anomaly starts, per reading and metric (the source preset has its fixed 10%). */
export const ANOMALY_RATE = { realistic: 0.01, infra: INFRA_ANOMALY_RATE } as const;

/** A virtual device: its readings one after the other. */
export interface Device {
  id: string;
  /** The reading of this device at time `t` (ms). */
  next(t: number): LabelledEvent;
}

interface MetricModel {
  level: number;
  noise: number;
  /** amplitude of the daily cycle */
  daily: number;
  /** slow drift per day */
  drift: number;
  min: number;
  max: number;
}

const REALISTIC: Record<string, MetricModel> = {
  cpu: { level: 45, noise: 4, daily: 12, drift: 4, min: 0, max: 100 },
  rps: { level: 120, noise: 10, daily: 50, drift: 10, min: 0, max: 1e6 },
  memory: { level: 55, noise: 1.5, daily: 3, drift: 3, min: 0, max: 100 },
  latency: { level: 20, noise: 3, daily: 4, drift: 1, min: 0.1, max: 1e5 },
};

// The source services' generator: uniform normal ranges; 10% of readings anomalous on every metric.
const SOURCE: Record<string, { normal: [number, number]; anomalous: [number, number] }> = {
  cpu: { normal: [30, 70], anomalous: [85, 98] },
  rps: { normal: [80, 120], anomalous: [300, 500] },
  memory: { normal: [40, 60], anomalous: [80, 95] },
  latency: { normal: [10, 30], anomalous: [100, 200] },
};

/** How long an injected level shift lasts, and how many of its first readings are labelled. */
const SHIFT_LENGTH: [number, number] = [20, 60];
export const SHIFT_LABELLED = 5;
const STUCK_LENGTH: [number, number] = [20, 50];

interface Episode {
  kind: 'level_shift' | 'stuck';
  left: number;
  step: number;
  offset: number;
  value: number;
}

const round2 = (x: number) => Math.round(x * 100) / 100;
const DAY_MS = 86_400_000;

/**
 * A virtual device. Realistic preset: per metric a level, Gaussian noise, a daily cycle and a slow
 * drift, and with probability `anomalyRate` per reading and metric one of: a spike or dip of 6-10
 * noise deviations (one reading), a level shift of 8 deviations lasting 20-60 readings (its first
 * five labelled), or a stuck sensor repeating its last value for 20-50 readings (all labelled).
 * Source preset: the source services' distribution, described above. Infra preset: see infra.ts.
 */
export function createDevice(id: string, preset: Preset, r: Rng, anomalyRate?: number): Device {
  if (preset === 'infra') return createInfraDevice(id, r, anomalyRate);
  const rate = anomalyRate ?? ANOMALY_RATE.realistic;
  const phase = r.next() * DAY_MS;
  const drift = Object.fromEntries(Object.keys(REALISTIC).map((m) => [m, (r.next() * 2 - 1) * REALISTIC[m]!.drift]));
  const episodes = new Map<string, Episode>();
  let start: number | undefined;

  function realistic(metric: string, model: MetricModel, t: number): [number, AnomalyKind | null] {
    start ??= t;
    const days = (t - start) / DAY_MS;
    const base = model.level + model.daily * Math.sin((2 * Math.PI * (t + phase)) / DAY_MS) + drift[metric]! * days;
    const normal = base + model.noise * r.gauss();
    const clamp = (x: number) => round2(Math.min(model.max, Math.max(model.min, x)));
    const episode = episodes.get(metric);
    if (episode) {
      episode.left--;
      episode.step++;
      if (episode.left <= 0) episodes.delete(metric);
      if (episode.kind === 'stuck') return [episode.value, 'stuck'];
      return [clamp(normal + episode.offset), episode.step <= SHIFT_LABELLED ? 'level_shift' : null];
    }
    if (r.next() >= rate) return [clamp(normal), null];
    const sign = r.next() < 0.5 ? -1 : 1;
    switch (r.pick(['spike', 'dip', 'level_shift', 'stuck'] as const)) {
      case 'spike':
        return [clamp(base + model.noise * (6 + 4 * r.next())), 'spike'];
      case 'dip':
        return [clamp(base - model.noise * (6 + 4 * r.next())), 'dip'];
      case 'level_shift': {
        const offset = sign * 8 * model.noise;
        episodes.set(metric, { kind: 'level_shift', left: r.int(...SHIFT_LENGTH) - 1, step: 1, offset, value: 0 });
        return [clamp(normal + offset), 'level_shift'];
      }
      case 'stuck': {
        const value = clamp(normal);
        episodes.set(metric, { kind: 'stuck', left: r.int(...STUCK_LENGTH) - 1, step: 1, offset: 0, value });
        return [value, 'stuck'];
      }
    }
  }

  return {
    id,
    next(t: number): LabelledEvent {
      const metrics: Record<string, number> = {};
      const labels: Record<string, AnomalyKind | null> = {};
      if (preset === 'source') {
        const anomalous = r.next() < 0.1;
        for (const [metric, ranges] of Object.entries(SOURCE)) {
          const [lo, hi] = anomalous ? ranges.anomalous : ranges.normal;
          metrics[metric] = round2(lo + (hi - lo) * r.next());
          labels[metric] = anomalous ? 'source' : null;
        }
      } else {
        for (const [metric, model] of Object.entries(REALISTIC)) {
          [metrics[metric], labels[metric]] = realistic(metric, model, t);
        }
      }
      return { device_id: id, timestamp: t, metrics, labels };
    },
  };
}

/** The body the ingest API takes for an event (labels stay with the simulator). */
export function toApiEvent(e: LabelledEvent): Record<string, number | string> {
  return { device_id: e.device_id, timestamp: e.timestamp, ...e.metrics };
}
