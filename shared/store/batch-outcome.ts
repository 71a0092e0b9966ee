import type { Reading } from '../schemas/event.js';
import { type AnomalyRecord, presentAnomaly } from './anomaly-record.js';
import { storeError } from './connection.js';
import { type EpisodeRecord, parseEpisode, presentEpisode } from './episode-record.js';
import { StoreFullError } from './errors.js';
import type { DeviceRun, EpisodeChange, Flagged, RunResult } from './record-script.js';
import type { Applied } from './write-path.js';

export interface BatchAnomaly extends AnomalyRecord {
  /** Position of the event in the batch. */
  index: number;
}

export interface BatchAlert extends EpisodeRecord {
  /** Position in the batch of the event whose value opened the episode. */
  index: number;
}

/** Per metric: values applied, how many of them were flagged, and episodes opened and closed. */
export type Counted = Map<string, { values: number; anomalies: number; opened: number; closed: number }>;

export interface BatchOutcome {
  anomalies: BatchAnomaly[];
  /** Alert episodes opened by the batch's values (at most one per episode). */
  alerts: BatchAlert[];
  /** Positions of events applied before (same device and id). */
  duplicates: number[];
  /** Positions of events refused by their device's rate limit, and when to retry. */
  rateLimited: Array<{ index: number; retryAfterMs: number }>;
  /** Positions of events refused because Redis is full (maxmemory): whole devices, nothing of theirs written. */
  storeFull: number[];
  /** The values applied now, per metric (for the service's own counters). */
  counted: Counted;
}

/**
 * What became of a batch's events, each list in batch order. A full Redis refuses a call before it runs:
 * its devices are refused whole, and said so. Any other failure is thrown (its events were not counted).
 */
export function batchOutcome(readings: readonly Reading[], runs: readonly DeviceRun[], applied: Applied): BatchOutcome {
  const { results, flagged, episodes } = applied;
  const outcome: BatchOutcome = { anomalies: [], alerts: [], duplicates: [], rateLimited: [], storeFull: [], counted: countedValues(appliedValues(readings, runs, results), flagged, episodes) };
  let failure: Error | undefined;
  for (let r = 0; r < runs.length; r++) {
    const run = runs[r]!;
    const result = results[r]!;
    if (result.kind === 'limited') for (const index of run.events) outcome.rateLimited.push({ index, retryAfterMs: result.retryAfterMs });
    else if (result.kind === 'applied') {
      if (result.duplicates.size > 0) for (const index of result.duplicates) outcome.duplicates.push(index);
    } else if (storeError(result.error) instanceof StoreFullError) for (const index of run.events) outcome.storeFull.push(index);
    else failure ??= result.error;
  }
  if (failure) throw failure;
  outcome.storeFull.sort((a, b) => a - b);
  outcome.anomalies = flagged.map(({ at, stored }) => ({ index: at.index, ...presentAnomaly(stored) }));
  // An episode the batch opened and closed again shows closed, with its peak.
  // record.lua packs every record it replies (parseEpisode reads them all).
  outcome.alerts = episodes.flatMap((e) => {
    const stored = e.opened !== undefined && parseEpisode(e.record, e.id, readings[e.opened]!.deviceId);
    return stored ? [{ index: e.opened!, ...presentEpisode(stored) }] : [];
  });
  outcome.duplicates.sort((a, b) => a - b);
  outcome.rateLimited.sort((a, b) => a.index - b.index);
  return outcome;
}

/** Values applied per metric (the events of applied runs but their duplicates), metrics in first-applied order. */
function appliedValues(readings: readonly Reading[], runs: readonly DeviceRun[], results: readonly RunResult[]): Map<string, number> {
  const perMetric = new Map<string, number>();
  for (let r = 0; r < runs.length; r++) {
    const result = results[r]!;
    if (result.kind !== 'applied') continue;
    const events = runs[r]!.events;
    for (let e = 0; e < events.length; e++) {
      if (result.duplicates.has(events[e]!)) continue;
      const metrics = readings[events[e]!]!.metrics;
      for (let m = 0; m < metrics.length; m++) {
        const name = metrics[m]![0];
        perMetric.set(name, (perMetric.get(name) ?? 0) + 1);
      }
    }
  }
  return perMetric;
}

/** Values applied per metric, with the flagged ones and the episodes opened and closed. */
function countedValues(perMetric: ReadonlyMap<string, number>, flagged: ReadonlyArray<{ at: Flagged }>, episodes: readonly EpisodeChange[]): Counted {
  const counted: Counted = new Map();
  for (const [name, values] of perMetric) counted.set(name, { values, anomalies: 0, opened: 0, closed: 0 });
  for (const { at } of flagged) counted.get(at.metric)!.anomalies++;
  for (const e of episodes) {
    const count = counted.get(e.metric)!;
    if (e.opened !== undefined) count.opened++;
    if (e.closed !== undefined) count.closed++;
  }
  return counted;
}
