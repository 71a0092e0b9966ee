import type { Config } from '../config/load.js';
import type { EpisodeStep } from '../detector/detection.js';
import type { Reading } from '../schemas/event.js';
import { keys } from './keys.js';
import { valueFigures } from './series-state.js';

/** Recent anomalies kept per device (the global list is capped by RECENT_ANOMALIES). */
const DEVICE_ANOMALY_CAP = 100;

/** Events of one device applied as one unit of record.lua (one rate-limit decision, one id check). */
export interface DeviceRun {
  readonly device: string;
  /** The metrics of the run, in first-seen order; their number (1-based) is their position here (at most 32 a
   * device's event, and few a device: a search costs less memory than a Map per run). */
  readonly metrics: string[];
  /** Indexes into the request's readings of this device's events, in order. */
  readonly events: number[];
  /** Values in the run: what a call's size is measured in. */
  values: number;
}

/** `full`: a result for every value; `anomalies`: only the flagged values (batches). */
export type ReplyMode = 'full' | 'anomalies';

export interface MetricResult {
  value: number;
  avg: number;
  zscore: number | null;
  anomaly: boolean;
  /** Graded score in [0, 1] and anomaly likelihood (shared/detector/detection.ts). */
  score: number;
  likelihood: number;
  /** What this value did to the series' alert episode. */
  episode: EpisodeStep;
}

/**
 * An alert episode that a run opened, closed, or both: its record as the run left it (as stored)
 * and its id within the device (`<start ms>/<metric>`).
 */
export interface EpisodeChange {
  metric: string;
  /** Request index of the event whose value opened it; undefined: opened before this run. */
  opened?: number;
  /** Request index of the event whose value closed it; undefined: still open. */
  closed?: number;
  /** Packed (shared/store/episode-record.ts, parseEpisode). */
  record: Buffer;
  id: string;
}

/** The request index of an episode change's first step. */
export const firstStep = (e: EpisodeChange): number => (e.opened ?? e.closed)!;

/** A flagged value: which event (index into the request) and metric, with the detector's figures. */
export interface Flagged {
  index: number;
  metric: string;
  value: number;
  avg: number;
  zscore: number | null;
}

/** What became of one run: refused (rate limit), failed (a command failed), or applied but for its duplicates. */
export type RunResult =
  | { kind: 'limited'; retryAfterMs: number }
  | { kind: 'failed'; error: Error }
  | {
      kind: 'applied';
      /** Request indexes of the duplicate events (not applied). */
      duplicates: ReadonlySet<number>;
      /** Per applied event, its results in the order sent (mode `full` only). */
      results: ReadonlyMap<number, MetricResult[]>;
      flagged: readonly Flagged[];
      episodes: readonly EpisodeChange[];
      /** Metrics whose keys' expiry this call pushed back (at the call's `now`). */
      refreshed: readonly string[];
    };

/** Groups readings (all, or those at `indexes`) into one run per device, in order of first appearance. */
export function runsByDevice(readings: readonly Reading[], indexes: Iterable<number> = readings.keys()): DeviceRun[] {
  const runs = new Map<string, DeviceRun>();
  for (const index of indexes) {
    const reading = readings[index]!;
    let run = runs.get(reading.deviceId);
    if (!run) {
      // Made at their size (a push onto [] reserves 16 slots): most runs of a batch are one event.
      run = { device: reading.deviceId, metrics: reading.metrics.map(([name]) => name), events: [index], values: reading.metrics.length };
      runs.set(reading.deviceId, run);
      continue;
    }
    run.events.push(index);
    run.values += reading.metrics.length;
    for (const [name] of reading.metrics) if (!run.metrics.includes(name)) run.metrics.push(name);
  }
  return [...runs.values()];
}

/**
 * record.lua's settings argument (its header lists them): one text per configuration, which the script
 * parses only when it differs from the last call's.
 */
const settings = new WeakMap<Config, string>();
/** Entries kept in a device's outbox; 0: no sink, no outbox, and its key is not sent. */
const outboxCapOf = (config: Config) => (config.sinkUrl ? config.outboxMaxLength : 0);
function settingsOf(config: Config): string {
  let text = settings.get(config);
  if (text === undefined) {
    text = [
      config.windowSize, config.zThreshold, config.minSamples, config.seriesTtlSeconds, DEVICE_ANOMALY_CAP,
      config.idempotencyTtlSeconds, config.rateLimitPerDevice, config.rateLimitBurst,
      config.likelihoodShort, config.likelihoodLong, config.episodeTrigger, config.episodeLikelihood, config.episodeScore,
      config.episodeCloseAfter, config.episodeRefractory, config.episodeFlatline, config.episodeWarmup,
      outboxCapOf(config),
      config.baselineLong, config.baselineShort, config.baselineSpikeZ, config.baselineLevelZ, config.baselineRefractory,
      config.baselineWarmup, config.baselineHourSpan, config.baselineFlatRun, config.baselineFlatShare,
    ].join(' ');
    settings.set(config, text);
  }
  return text;
}

/**
 * The KEYS and ARGV of one record.lua call over `runs`, in the layout its header documents; `totals` is
 * the hash its counts go to. As the keys and the arguments: ioredis flattens the two lists into its
 * command once, where one spread list would be copied three times more.
 */
export function encodeRecord(runs: readonly DeviceRun[], readings: readonly Reading[], now: number, mode: ReplyMode, config: Config, totals: string) {
  const keyList: string[] = [];
  const outboxCap = outboxCapOf(config);
  const args: Array<string | number> = [settingsOf(config), now, mode, runs.length];
  for (const { device, metrics, events } of runs) {
    keyList.push(keys.seriesIndex(device), keys.deviceAnomalies(device), keys.eventIds(device), keys.rateBucket(device), keys.deviceEpisodes(device), keys.deviceEpisodeRecords(device), keys.deviceState(device));
    if (outboxCap > 0) keyList.push(keys.outbox(device));
    for (const metric of metrics) keyList.push(keys.window(device, metric));
    args.push(device, metrics.length, ...metrics, events.length);
    for (const index of events) {
      const reading = readings[index]!;
      args.push(reading.timestamp, reading.id ?? '', reading.metrics.length);
      for (const [name, value] of reading.metrics) args.push(metrics.indexOf(name) + 1, String(value));
    }
  }
  keyList.push(totals);
  return [keyList, args] as const;
}

/** One run's reply, as ioredis's Buffer form of the command gives it: texts as Buffers (the values of mode `full` are binary), integers as numbers. */
export type Reply = ReadonlyArray<Buffer | number>;

/** The replies of one record call, one per run: {"limited", ms}, {"error", message}, or {"ok", …} (see record.lua). */
export function decodeRecord(runs: readonly DeviceRun[], readings: readonly Reading[], mode: ReplyMode, replies: readonly Reply[]): RunResult[] {
  return runs.map((run, r) => {
    const reply = replies[r]!;
    const status = String(reply[0]);
    if (status === 'limited') return { kind: 'limited', retryAfterMs: Number(reply[1]) };
    if (status === 'error') return { kind: 'failed', error: new Error(String(reply[1])) };
    const count = Number(reply[1]);
    const duplicates = count === 0 ? NONE : new Set(reply.slice(2, 2 + count).map((n) => run.events[Number(n) - 1]!));
    const refreshedCount = Number(reply[reply.length - 1]);
    const end = reply.length - 1 - refreshedCount;
    const refreshed = refreshedCount === 0 ? EMPTY : reply.slice(end, reply.length - 1).map((n) => run.metrics[Number(n) - 1]!);
    const episodeCount = Number(reply[end - 1]);
    const valuesEnd = end - 1 - EPISODE_FIELDS * episodeCount;
    const episodes = episodeCount === 0 ? EMPTY : decodeEpisodes(run, reply.slice(valuesEnd, end - 1));
    const data = reply.slice(2 + count, valuesEnd);
    const decoded = mode === 'full' ? decodeFull(run, readings, duplicates, data[0] as Buffer) : decodeFlagged(run, readings, data);
    return { kind: 'applied', duplicates, refreshed, episodes, ...decoded };
  });
}

const EPISODE_FIELDS = 5;
/*
 * What most runs of a batch have none of, shared rather than made per run: a batch from 1,000 devices
 * has 1,000 runs in flight at once (the memory per event in flight, BENCHMARKS.md). Never written to.
 */
const NONE: ReadonlySet<number> = new Set();
const EMPTY: readonly never[] = Object.freeze([]);
const NO_RESULTS: ReadonlyMap<number, MetricResult[]> = new Map();
const STEPS: EpisodeStep[] = [null, 'opened', 'open', 'closed'];

/** Episodes the run opened or closed: event number that opened it (0: none), that closed it (0: none), metric number, record, id. */
function decodeEpisodes(run: DeviceRun, data: Reply): EpisodeChange[] {
  const out: EpisodeChange[] = [];
  const event = (n: Buffer | number | undefined) => (n === 0 ? undefined : run.events[Number(n) - 1]!);
  for (let i = 0; i < data.length; i += EPISODE_FIELDS) {
    const change: EpisodeChange = { metric: run.metrics[Number(data[i + 2]) - 1]!, record: data[i + 3] as Buffer, id: String(data[i + 4]) };
    const [opened, closed] = [event(data[i]), event(data[i + 1])];
    if (opened !== undefined) change.opened = opened;
    if (closed !== undefined) change.closed = closed;
    out.push(change);
  }
  return out;
}

/** Bytes per value in mode `full`: avg, z, the likelihood's d and variance (doubles), then bits: 1 anomaly, 2 scored, 4 × episode step. */
const VALUE_BYTES = 33;

/**
 * Mode `full`: every applied value, in input order; the score and the likelihood computed from z and
 * the likelihood's d and variance (valueFigures), in the process that scales out rather than in Redis.
 */
function decodeFull(run: DeviceRun, readings: readonly Reading[], duplicates: ReadonlySet<number>, data: Buffer) {
  const results = new Map<number, MetricResult[]>();
  const flagged: Flagged[] = [];
  let at = 0;
  for (const index of run.events) {
    if (duplicates.has(index)) continue;
    const metrics = readings[index]!.metrics.map(([metric, value]): MetricResult => {
      const bits = data[at + 32]!;
      const result: MetricResult = {
        value, avg: data.readDoubleLE(at),
        ...valueFigures(data.readDoubleLE(at + 8), bits, data.readDoubleLE(at + 16), data.readDoubleLE(at + 24)),
        episode: STEPS[bits >> 2] ?? null,
      };
      at += VALUE_BYTES;
      if (result.anomaly) flagged.push({ index, metric, value, avg: result.avg, zscore: result.zscore });
      return result;
    });
    results.set(index, metrics);
  }
  return { results, flagged };
}

/** Mode `anomalies`: event number, metric number, avg, z of each flagged value. */
function decodeFlagged(run: DeviceRun, readings: readonly Reading[], data: Reply) {
  if (data.length === 0) return { results: NO_RESULTS, flagged: EMPTY };
  const flagged: Flagged[] = [];
  for (let i = 0; i < data.length; i += 4) {
    const index = run.events[Number(data[i]) - 1]!;
    const metric = run.metrics[Number(data[i + 1]) - 1]!;
    const value = readings[index]!.metrics.find(([name]) => name === metric)![1];
    flagged.push({ index, metric, value, avg: Number(String(data[i + 2])), zscore: parseZ(data[i + 3]) });
  }
  return { results: NO_RESULTS, flagged };
}

/** The script's z text → a JSON-safe number; ±∞ (zero-variance baseline) becomes null. */
function parseZ(text: Buffer | number | undefined): number | null {
  const z = Number(String(text));
  return Number.isFinite(z) ? z : null;
}
