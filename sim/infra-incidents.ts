// The infra preset's incidents: what an operator wants to be alerted on, each with the readings it labels.
import type { Rng } from '../support/random.js';
import type { AnomalyKind } from './signals.js';

export type IncidentKind = Extract<AnomalyKind, 'spike' | 'dip' | 'level_shift' | 'flatline' | 'leak' | 'degradation'>;

/**
 * One incident on one series. Sizes are in deviations of the series' normal noise, which by itself
 * stays within 6 (12 in its noisiest stretches), so an incident is labelled only where it is clearly
 * out of that.
 */
export interface Incident {
  kind: IncidentKind;
  /** readings it lasts */
  length: number;
  /** its readings from..to-1 (counted from its first) are labelled */
  labelled: readonly [from: number, to: number];
  /** the value at reading `step`, from what the value would have been */
  value: (normal: number, step: number) => number;
  /** a change of level that stays after the incident, to be added to the series' offset */
  permanent?: number;
}

type Range = readonly [number, number];

/** Spikes and dips: 20-30 deviations, 1-3 readings, all labelled. */
const JUMP_SIZE: Range = [20, 30];
const JUMP_LENGTH: Range = [1, 3];
/** Level shifts: 8-14 deviations that stay (a deploy, a config change); the first readings labelled. */
const SHIFT_SIZE: Range = [8, 14];
export const INFRA_SHIFT_LABELLED = 20;
/** Flatlines: a dead exporter repeating one exact value for 30-90 readings, all labelled. */
const FLATLINE_LENGTH: Range = [30, 90];
/** Leaks: 40-60 deviations of growth over 120-300 readings, then a restart. */
const LEAK_GROWTH: Range = [40, 60];
const LEAK_LENGTH: Range = [120, 300];
/** Degradations: a climb of 20-40 deviations over 30-90 readings, 20-60 readings at the top, then a fix. */
const DEGRADATION_SIZE: Range = [20, 40];
const DEGRADATION_RAMP: Range = [30, 90];
const DEGRADATION_PLATEAU: Range = [20, 60];
/** A leak or a degradation is labelled once it has moved the series this far (deviations). */
export const CLEARLY_ABNORMAL = 8;

const uniform = (r: Rng, [lo, hi]: Range) => lo + (hi - lo) * r.next();
const all = (length: number) => [0, length] as const;

/**
 * A creep of `deviations` over `ramp` readings, held to the last reading but one; the last reading
 * is back to normal (the restart or the fix), and labelled with the rest from where the creep
 * passes CLEARLY_ABNORMAL.
 */
function creep(kind: 'leak' | 'degradation', deviations: number, noise: number, ramp: number, length: number): Incident {
  const from = Math.ceil((CLEARLY_ABNORMAL / deviations) * ramp) - 1;
  return {
    kind,
    length,
    labelled: [from, length],
    value: (v, step) => (step === length - 1 ? v : v + deviations * noise * Math.min(1, (step + 1) / ramp)),
  };
}

type Build = (r: Rng, noise: number, now: number, offset: number) => Incident;

const BUILD: Record<IncidentKind, Build> = {
  spike: (r, noise) => {
    const [size, length] = [uniform(r, JUMP_SIZE) * noise, r.int(...JUMP_LENGTH)];
    return { kind: 'spike', length, labelled: all(length), value: (v) => v + size };
  },
  dip: (r, noise) => {
    const [size, length] = [uniform(r, JUMP_SIZE) * noise, r.int(...JUMP_LENGTH)];
    return { kind: 'dip', length, labelled: all(length), value: (v) => v - size };
  },
  // Toward the series' nominal level when it is already shifted, so that shifts never pile up.
  level_shift: (r, noise, _now, offset) => {
    const sign = offset > 0 ? -1 : offset < 0 ? 1 : r.next() < 0.5 ? -1 : 1;
    const shift = sign * uniform(r, SHIFT_SIZE) * noise;
    return { kind: 'level_shift', length: INFRA_SHIFT_LABELLED, labelled: all(INFRA_SHIFT_LABELLED), value: (v) => v + shift, permanent: shift };
  },
  flatline: (r, _noise, now) => {
    const length = r.int(...FLATLINE_LENGTH);
    return { kind: 'flatline', length, labelled: all(length), value: () => now };
  },
  leak: (r, noise) => {
    const length = r.int(...LEAK_LENGTH);
    return creep('leak', uniform(r, LEAK_GROWTH), noise, length - 1, length);
  },
  degradation: (r, noise) => {
    const ramp = r.int(...DEGRADATION_RAMP);
    return creep('degradation', uniform(r, DEGRADATION_SIZE), noise, ramp, ramp + r.int(...DEGRADATION_PLATEAU) + 1);
  },
};

/**
 * Starts an incident of a kind drawn by `weights` on a series whose noise is `noise`, whose value
 * is `now` (a flatline repeats it) and whose offset from its nominal level is `offset`.
 */
export function startIncident(r: Rng, weights: Partial<Record<IncidentKind, number>>, noise: number, now: number, offset: number): Incident {
  const kinds = Object.entries(weights) as Array<[IncidentKind, number]>;
  let pick = r.next() * kinds.reduce((sum, [, w]) => sum + w, 0);
  const [kind] = kinds.find(([, w]) => (pick -= w) < 0) ?? kinds.at(-1)!;
  return BUILD[kind](r, noise, now, offset);
}
