import type { Reading } from '../schemas/event.js';
import type { StoredAnomaly } from './anomaly-record.js';
import { seriesMember } from './keys.js';
import { type DeviceRun, type EpisodeChange, type RunResult, firstStep } from './record-script.js';
import type { TallyEntry } from './tally.js';

/*
 * The totals are counted by the record calls themselves, atomically with the events. The rest of the
 * bookkeeping over all devices (device index, recent anomalies and episodes, live series, outbox
 * devices) is one tally made once the replies say what was applied: a device whose events were all
 * refused or duplicates is not indexed. It costs a round trip after the record calls.
 */

/** What one write gives the tally from: its runs, their results, and what they flagged and opened or closed. */
export interface Written {
  readonly readings: readonly Reading[];
  readonly runs: readonly DeviceRun[];
  /** One per run, in the same order. */
  readonly results: readonly RunResult[];
  /** The flagged values' records, in request order. */
  readonly anomalies: StoredAnomaly[];
  /** Episodes opened and closed, in request order. */
  readonly episodes: readonly EpisodeChange[];
  /** When the record calls ran (ms): the series' new expiry base. */
  readonly now: number;
}

/**
 * The tally entry of one write (devices with an event applied, moved series, anomalies, episodes, and with
 * `outbox` the episodes' devices); undefined when no event was applied, so nothing is to be tallied.
 */
export function tallyEntry(written: Written, outbox: boolean): TallyEntry | undefined {
  const { readings, runs, results, episodes, now } = written;
  const devices: string[] = [];
  const series: Array<[string, number]> = [];
  for (let r = 0; r < runs.length; r++) {
    const run = runs[r]!;
    const result = results[r]!;
    if (result.kind !== 'applied' || !anyApplied(run.events, result.duplicates)) continue;
    devices.push(run.device);
    for (const metric of result.refreshed) series.push([seriesMember(run.device, metric), now]);
  }
  if (devices.length === 0) return undefined;
  const entry: TallyEntry = { devices, anomalies: written.anomalies, series };
  addEpisodes(entry, episodes, readings);
  if (outbox && episodes.length > 0) entry.outbox = new Set(episodes.map((e) => readings[firstStep(e)]!.deviceId));
  return entry;
}

/** Whether any of a run's events is not a duplicate. */
function anyApplied(events: readonly number[], duplicates: ReadonlySet<number>): boolean {
  for (let i = 0; i < events.length; i++) if (!duplicates.has(events[i]!)) return true;
  return false;
}

/** Episodes in the tally: the global list (ids `<device>/<start>/<metric>`; one that a run opened and closed goes in as opened, with its closed record). */
function addEpisodes(entry: TallyEntry, episodes: readonly EpisodeChange[], readings: readonly Reading[]): void {
  const global = (e: EpisodeChange) => [`${readings[firstStep(e)]!.deviceId}/${e.id}`, e.record] as const;
  entry.opened = episodes.filter((e) => e.opened !== undefined).map(global);
  entry.closed = episodes.filter((e) => e.opened === undefined).map(global);
}

// The events are applied and counted (the record calls count them): refusing them would invite a retry
// that applies them twice. What is missed is re-added by the devices' next writes (device index, live
// series) or was only a recent list's entry.
/** Logs a failed tally as one warning line and lets the write succeed. */
export function tallyFailed(error: unknown): void {
  console.error(JSON.stringify({ severity: 'WARNING', message: 'bookkeeping failed; device index and recent lists miss this write until the devices write again', error: String(error) }));
}
