import { randomUUID } from 'node:crypto';
import type { DetectorParams } from '../shared/detector/params.js';
import { moments } from '../shared/detector/reference.js';
import { type Running, startRedis } from '../support/servers.js';
import { startFunction } from '../support/functions.js';
import type { ChartSeries } from './chart.js';
import { InputError } from './readers.js';
import { type Confusion, type Scores, add, confusion, score } from './scoring.js';
import { type LabelledEvent, toApiEvent } from './signals.js';

/** `${event index}:${metric}` of every value the service flagged. */
export type Flags = Set<string>;

/**
 * Replays events, in order, through the real path: an ingest function process (functions-framework
 * serving dist/) and a Redis of their own, in batches of 1000. Returns what the service flagged.
 */
export async function replay(events: readonly LabelledEvent[], settings: DetectorParams, redisUrl: string): Promise<Flags> {
  const ingest = await startFunction('ingest', {
    REDIS_URL: redisUrl,
    KEY_PREFIX: `eval:${randomUUID().slice(0, 8)}:`,
    WINDOW_SIZE: String(settings.windowSize),
    Z_THRESHOLD: String(settings.zThreshold),
    MIN_SAMPLES: String(settings.minSamples),
    MAX_BATCH: '1000',
    MAX_BODY_BYTES: String(16 * 1024 * 1024),
  });
  try {
    const flags: Flags = new Set();
    for (let from = 0; from < events.length; from += 1000) {
      const batch = events.slice(from, from + 1000);
      const response = await fetch(`${ingest.url}/ingest/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(batch.map(toApiEvent)),
      });
      const body = (await response.json()) as { anomalies?: Array<{ index: number; metric: string }>; message?: string };
      if (response.status !== 202) throw new InputError(`the service refused events ${from}-${from + batch.length - 1}: ${response.status} ${body.message}`);
      for (const a of body.anomalies!) flags.add(`${from + a.index}:${a.metric}`);
    }
    return flags;
  } finally {
    await ingest.stop();
  }
}

/** Starts a Redis for an evaluation run (stopped by the caller). */
export function evaluationRedis(): Promise<Running> {
  return startRedis();
}

export interface Evaluation {
  perMetric: Record<string, Scores>;
  overall: Scores;
  /** Per kind of injected anomaly: how many values were labelled, and how many of them flagged. */
  perKind: Record<string, { labelled: number; flagged: number; recall: number }>;
}

/** Scores the flags against the labels, per metric and overall; values with unknown labels are left out. */
export function evaluate(events: readonly LabelledEvent[], flags: Flags): Evaluation {
  const perMetric = new Map<string, Confusion>();
  const kinds = new Map<string, { labelled: number; flagged: number }>();
  events.forEach((e, i) => {
    for (const metric of Object.keys(e.metrics)) {
      if (!(metric in e.labels)) continue;
      const kind = e.labels[metric];
      if (kind) {
        const k = kinds.get(kind) ?? { labelled: 0, flagged: 0 };
        k.labelled++;
        if (flags.has(`${i}:${metric}`)) k.flagged++;
        kinds.set(kind, k);
      }
      const c = confusion([e.labels[metric] !== null], [flags.has(`${i}:${metric}`)]);
      perMetric.set(metric, add(perMetric.get(metric) ?? { tp: 0, fp: 0, tn: 0, fn: 0 }, c));
    }
  });
  if (perMetric.size === 0) throw new InputError('no labelled values to score: give labels (a label column or --labels windows)');
  const overall = [...perMetric.values()].reduce(add);
  return {
    perMetric: Object.fromEntries([...perMetric].sort(([a], [b]) => (a < b ? -1 : 1)).map(([m, c]) => [m, score(c)])),
    overall: score(overall),
    perKind: Object.fromEntries([...kinds].sort().map(([kind, k]) => [kind, { ...k, recall: k.labelled ? k.flagged / k.labelled : 0 }])),
  };
}

/** The series of the stream, each ready to chart (average and band follow the reference semantics). */
export function chartSeries(events: readonly LabelledEvent[], flags: Flags, settings: DetectorParams): ChartSeries[] {
  const series = new Map<string, { values: number[]; flagged: boolean[]; truth: Array<boolean | null> }>();
  events.forEach((e, i) => {
    for (const [metric, value] of Object.entries(e.metrics)) {
      const key = `${e.device_id} / ${metric}`;
      const s = series.get(key) ?? { values: [], flagged: [], truth: [] };
      s.values.push(value);
      s.flagged.push(flags.has(`${i}:${metric}`));
      s.truth.push(metric in e.labels ? e.labels[metric] !== null : null);
      series.set(key, s);
    }
  });
  return [...series].map(([title, s]) => {
    const avg: number[] = [];
    const lower: number[] = [];
    const upper: number[] = [];
    s.values.forEach((_, i) => {
      const before = s.values.slice(Math.max(0, i - settings.windowSize), i);
      const { mean, variance } = moments(before);
      const spread = settings.zThreshold * Math.sqrt(variance);
      lower.push(before.length ? mean - spread : Number.NaN);
      upper.push(before.length ? mean + spread : Number.NaN);
      avg.push(moments(s.values.slice(Math.max(0, i + 1 - settings.windowSize), i + 1)).mean);
    });
    const known = s.truth.every((t) => t !== null);
    return { title, values: s.values, avg, lower, upper, flagged: s.flagged, truth: known ? (s.truth as boolean[]) : null, threshold: settings.zThreshold };
  });
}
