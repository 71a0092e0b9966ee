import { randomUUID } from 'node:crypto';
import { type DetectorParams, detectorEnv } from '../shared/detector/params.js';
import { type ReplayParams, moments } from '../shared/detector/reference.js';
import { type Running, startRedis } from '../support/servers.js';
import { startFunction } from '../support/functions.js';
import type { ChartSeries } from './chart.js';
import { InputError } from './readers.js';
import { type Confusion, type Scores, add, confusion, score } from './scoring.js';
import { type LabelledEvent, toApiEvent } from './signals.js';
import { type Window, type WindowSeries, windowsFromLabels } from './window-score.js';

/** `${event index}:${metric}` of every value the service flagged. */
export type Flags = Set<string>;

/** What the service said about a replayed stream: every flagged value, and the values that opened an episode. */
export interface Detections {
  flags: Flags;
  alerts: Flags;
}

interface BatchReply {
  anomalies?: Array<{ index: number; metric: string }>;
  alerts: Array<{ index: number; metric: string }>;
  message?: string;
}

/**
 * Replays events, in order, through the real path: an ingest function process (functions-framework
 * serving dist/) and a Redis of their own, in batches of 1000. Returns what the service flagged and alerted.
 */
export async function replayDetections(events: readonly LabelledEvent[], settings: ReplayParams, redisUrl: string): Promise<Detections> {
  // A parameter left out (a partial settings object) keeps the service's default.
  const detector = Object.entries(detectorEnv(settings as DetectorParams)).filter(([, value]) => value !== 'undefined');
  const ingest = await startFunction('ingest', {
    REDIS_URL: redisUrl,
    KEY_PREFIX: `eval:${randomUUID().slice(0, 8)}:`,
    ...Object.fromEntries(detector),
    MAX_BATCH: '1000',
    MAX_BODY_BYTES: String(16 * 1024 * 1024),
  });
  try {
    const found: Detections = { flags: new Set(), alerts: new Set() };
    for (let from = 0; from < events.length; from += 1000) {
      const batch = events.slice(from, from + 1000);
      const response = await fetch(`${ingest.url}/ingest/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(batch.map(toApiEvent)),
      });
      const body = (await response.json()) as BatchReply;
      if (response.status !== 202) throw new InputError(`the service refused events ${from}-${from + batch.length - 1}: ${response.status} ${body.message}`);
      for (const a of body.anomalies!) found.flags.add(`${from + a.index}:${a.metric}`);
      for (const a of body.alerts) found.alerts.add(`${from + a.index}:${a.metric}`);
    }
    return found;
  } finally {
    await ingest.stop();
  }
}

/** What the service flagged, only (for callers that need no alerts). */
export async function replay(events: readonly LabelledEvent[], settings: ReplayParams, redisUrl: string): Promise<Flags> {
  return (await replayDetections(events, settings, redisUrl)).flags;
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

/** Evaluations of several files as one: counts added per metric and per kind, then scored again. */
export function mergeEvaluations(list: readonly Evaluation[]): Evaluation {
  const perMetric = new Map<string, Confusion>();
  const kinds = new Map<string, { labelled: number; flagged: number }>();
  for (const e of list) {
    for (const [metric, s] of Object.entries(e.perMetric)) perMetric.set(metric, add(perMetric.get(metric) ?? { tp: 0, fp: 0, tn: 0, fn: 0 }, s));
    for (const [kind, k] of Object.entries(e.perKind)) {
      const sum = kinds.get(kind) ?? { labelled: 0, flagged: 0 };
      kinds.set(kind, { labelled: sum.labelled + k.labelled, flagged: sum.flagged + k.flagged });
    }
  }
  return {
    perMetric: Object.fromEntries([...perMetric].sort(([a], [b]) => (a < b ? -1 : 1)).map(([m, c]) => [m, score(c)])),
    overall: score(list.map((e) => e.overall).reduce<Confusion>(add, { tp: 0, fp: 0, tn: 0, fn: 0 })),
    perKind: Object.fromEntries([...kinds].sort().map(([kind, k]) => [kind, { ...k, recall: k.labelled ? k.flagged / k.labelled : 0 }])),
  };
}

/**
 * The stream as series for window scoring, one per device and metric: the given windows, or else the
 * runs of labelled values. A series none of whose values has a known label is left out.
 */
export function windowSeries(events: readonly LabelledEvent[], detections: Flags, windows?: readonly Window[]): WindowSeries[] {
  const series = new Map<string, { timestamps: number[]; detections: boolean[]; labelled: boolean[]; known: boolean }>();
  events.forEach((e, i) => {
    for (const metric of Object.keys(e.metrics)) {
      const key = `${e.device_id}\u0000${metric}`;
      const s = series.get(key) ?? { timestamps: [], detections: [], labelled: [], known: false };
      s.timestamps.push(e.timestamp);
      s.detections.push(detections.has(`${i}:${metric}`));
      s.labelled.push(Boolean(e.labels[metric]));
      s.known ||= metric in e.labels;
      series.set(key, s);
    }
  });
  return [...series.values()]
    .filter((s) => windows !== undefined || s.known)
    .map((s) => ({ timestamps: s.timestamps, detections: s.detections, windows: windows ?? windowsFromLabels(s.timestamps, s.labelled) }));
}

/** What a chart knows beyond the stream: the file's anomaly windows (else each series' runs of labels) and the detector's profile. */
export interface ChartContext {
  windows?: readonly Window[];
  profile?: string;
}

/** The series of the stream with what the service flagged and alerted, each ready to chart (average and band follow the reference semantics). */
export function chartSeries(events: readonly LabelledEvent[], found: Detections, settings: ReplayParams, context: ChartContext = {}): ChartSeries[] {
  const series = new Map<string, { timestamps: number[]; values: number[]; flagged: boolean[]; alerts: boolean[]; labels: Array<string | null | undefined> }>();
  events.forEach((e, i) => {
    for (const [metric, value] of Object.entries(e.metrics)) {
      const key = `${e.device_id} / ${metric}`;
      const s = series.get(key) ?? { timestamps: [], values: [], flagged: [], alerts: [], labels: [] };
      s.timestamps.push(e.timestamp);
      s.values.push(value);
      s.flagged.push(found.flags.has(`${i}:${metric}`));
      s.alerts.push(found.alerts.has(`${i}:${metric}`));
      s.labels.push(metric in e.labels ? (e.labels[metric] ? String(e.labels[metric]) : null) : undefined);
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
    const labels = s.labels.every((l) => l !== undefined) ? (s.labels as Array<string | null>) : null;
    const windows = context.windows ?? (labels ? windowsFromLabels(s.timestamps, labels.map(Boolean)) : []);
    const detector = { params: settings, ...(context.profile === undefined ? {} : { profile: context.profile }) };
    return { title, timestamps: s.timestamps, values: s.values, avg, lower, upper, flagged: s.flagged, alerts: s.alerts, labels, windows, detector };
  });
}
