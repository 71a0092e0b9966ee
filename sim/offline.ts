// The offline path of npm run evaluate: the TypeScript reference of the detector, in this process, without
// Redis or the service; each series from a fresh state, one value per event in order, the events' times as event times.
import { type DetectorParams, replay } from '../shared/detector/reference.js';
import type { Detections } from './replay.js';
import type { LabelledEvent } from './signals.js';

/** What a detector said about one series: per value, whether it was flagged and whether it opened an alert. */
export interface SeriesVerdict {
  flags: readonly boolean[];
  alerts: readonly boolean[];
}

/** The service's own detector (shared/detector/reference.ts) over one whole series from an empty state: flags by the z-score, alerts where an episode opens. */
export function referenceDetector(values: readonly number[], times: readonly number[], params: DetectorParams): SeriesVerdict {
  const outcomes = replay(values, params, times);
  return { flags: outcomes.map((o) => o.anomaly), alerts: outcomes.map((o) => o.episode === 'opened') };
}

/** One series of a stream: the indexes of its events, its values and their times. */
interface Series {
  metric: string;
  indexes: number[];
  values: number[];
  times: number[];
}

/** The stream split into series, one per device and metric, each in event order. */
function seriesOf(events: readonly LabelledEvent[]): Series[] {
  const all = new Map<string, Series>();
  events.forEach((e, i) => {
    for (const [metric, value] of Object.entries(e.metrics)) {
      const key = `${e.device_id}\u0000${metric}`;
      const s = all.get(key) ?? { metric, indexes: [], values: [], times: [] };
      s.indexes.push(i);
      s.values.push(value);
      s.times.push(e.timestamp);
      all.set(key, s);
    }
  });
  return [...all.values()];
}

/** Runs every series of the stream through the reference, in the same `${event index}:${metric}` form as the online replay. */
export function offlineDetections(events: readonly LabelledEvent[], params: DetectorParams): Detections {
  const found: Detections = { flags: new Set(), alerts: new Set() };
  for (const s of seriesOf(events)) {
    const verdict = referenceDetector(s.values, s.times, params);
    s.indexes.forEach((index, j) => {
      if (verdict.flags[j]) found.flags.add(`${index}:${s.metric}`);
      if (verdict.alerts[j]) found.alerts.add(`${index}:${s.metric}`);
    });
  }
  return found;
}
