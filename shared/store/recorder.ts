import type { Cluster, Redis } from 'ioredis';
import type { Config } from '../config/load.js';
import type { Reading } from '../schemas/event.js';
import { redisTimer } from '../telemetry/metrics.js';
import { type AnomalyRecord, type StoredAnomaly, presentAnomaly } from './anomaly-record.js';
import { keys } from './keys.js';
import { type DeviceRun, type Flagged, type MetricResult, type ReplyMode, type RunResult, decodeRecord, encodeRecord, runsByDevice } from './record-script.js';
import { type Increments, createTally } from './tally.js';

export type { MetricResult } from './record-script.js';

const PRUNE_EVERY_MS = 60_000;

/** What became of one event: applied (with its per-metric results), a duplicate of one applied before, or refused by the device's rate limit. */
export type EventOutcome =
  | { status: 'applied'; metrics: MetricResult[] }
  | { status: 'duplicate' }
  | { status: 'rate_limited'; retryAfterMs: number };

export interface BatchAnomaly extends AnomalyRecord {
  /** Position of the event in the batch. */
  index: number;
}

/** Per metric: values applied, and how many of them were flagged. */
export type Counted = Map<string, { values: number; anomalies: number }>;

export interface BatchOutcome {
  anomalies: BatchAnomaly[];
  /** Positions of events applied before (same device and id). */
  duplicates: number[];
  /** Positions of events refused by their device's rate limit, and when to retry. */
  rateLimited: Array<{ index: number; retryAfterMs: number }>;
  /** The values applied now, per metric (for the service's own counters). */
  counted: Counted;
}

export interface Recorder {
  /** Applies one event; its per-metric results come in the order sent. */
  recordOne(reading: Reading): Promise<EventOutcome>;
  /** Applies a batch and returns what became of every event. */
  recordDetailed(readings: readonly Reading[]): Promise<EventOutcome[]>;
  /** Applies a batch (one script call per device, all in one round trip); returns its anomalies and refusals. */
  recordBatch(readings: readonly Reading[]): Promise<BatchOutcome>;
}

interface Applied {
  runs: DeviceRun[];
  results: RunResult[];
  /** Flagged values in request order, with their stored records. */
  flagged: Array<{ at: Flagged; stored: StoredAnomaly }>;
  /** Values sent per metric, and those not applied (duplicates, refused). */
  sent: ValueCounts;
  unsent: ValueCounts | undefined;
}

/** What the write path works with. */
interface WritePath {
  readonly redis: Redis | Cluster;
  readonly config: Config;
  readonly tally: ReturnType<typeof createTally>;
  readonly prune: (now: number) => void;
}

/**
 * The write path: one record.lua call per device (rate limit, ids, series and the device's anomaly list
 * in one atomic step) and the bookkeeping over all devices through the merged tally; replies become
 * typed outcomes.
 */
export function createRecorder(redis: Redis | Cluster, config: Config): Recorder {
  const w: WritePath = {
    redis,
    config,
    tally: createTally(redis, config.recentAnomalies),
    prune: pruner(redis, config.seriesTtlSeconds * 1000),
  };
  return {
    recordOne: async (reading) => (await recordDetailed(w, [reading]))[0]!,
    recordDetailed: (readings) => recordDetailed(w, readings),
    recordBatch: (readings) => recordBatch(w, readings),
  };
}

/*
 * The totals count a request's events before the replies say which were applied, so that the tally
 * leaves in the same round trip as the device calls; events that turn out not applied (duplicates,
 * rate-limited, lost with a failed call) are taken back by a second, rarer tally.
 */
async function apply(w: WritePath, readings: readonly Reading[], mode: ReplyMode): Promise<Applied> {
  const now = Date.now();
  const runs = runsByDevice(readings);
  const calls = runs.map((run) => w.redis.record(...encodeRecord(run, readings, now, mode, w.config)));
  const sent = valueCounts(readings, readings.keys());
  const bookkeeping = w.tally(runs.map((run) => run.device), increments(sent, 1));
  w.prune(now);
  const done = redisTimer(mode === 'full' ? 'record' : 'record_batch');
  const replies = await repliesOrTakeBack(w, calls, runs, readings, bookkeeping);
  done();
  const results = runs.map((run, i) => decodeRecord(run, readings, mode, replies[i]!));
  const notApplied = runs.flatMap((run, i) => {
    const result = results[i]!;
    return result.kind === 'limited' ? run.events : [...result.duplicates];
  });
  const unsent = notApplied.length > 0 ? valueCounts(readings, notApplied) : undefined;
  await Promise.all([
    bookkeeping.catch(tallyFailed),
    unsent ? w.tally([], increments(unsent, -1)).catch(tallyFailed) : undefined,
  ]);
  const flagged = flaggedValues(results, readings, now);
  if (flagged.length > 0) await publishAnomalies(w, flagged.map((f) => f.stored));
  return { runs, results, flagged, sent, unsent };
}

/** Waits for every device's call; if any failed, takes back the totals of the lost events and rethrows. */
async function repliesOrTakeBack(
  w: WritePath,
  calls: Array<Promise<unknown>>,
  runs: DeviceRun[],
  readings: readonly Reading[],
  bookkeeping: Promise<unknown>,
) {
  try {
    return (await Promise.all(calls)) as Array<Array<string | number>>;
  } catch (error) {
    const settled = await Promise.allSettled(calls);
    const lost = runs.flatMap((run, i) => (settled[i]!.status === 'rejected' ? run.events : []));
    if (await bookkeeping.then(() => true, () => false)) {
      await w.tally([], increments(valueCounts(readings, lost), -1)).catch(() => undefined);
    }
    throw error;
  }
}

/** Anomaly totals and the global recent list: only when anomalies were found. */
function publishAnomalies(w: WritePath, found: StoredAnomaly[]): Promise<unknown> {
  const add: Increments = new Map([['anomalies', found.length]]);
  for (const a of found) add.set(`anomalies:${a.metric}`, (add.get(`anomalies:${a.metric}`) ?? 0) + 1);
  return w.tally([], add, found);
}

async function recordDetailed(w: WritePath, readings: readonly Reading[]): Promise<EventOutcome[]> {
  const { runs, results } = await apply(w, readings, 'full');
  const outcomes: EventOutcome[] = new Array(readings.length);
  runs.forEach((run, r) => {
    const result = results[r]!;
    for (const index of run.events) {
      if (result.kind === 'limited') outcomes[index] = { status: 'rate_limited', retryAfterMs: result.retryAfterMs };
      else if (result.duplicates.has(index)) outcomes[index] = { status: 'duplicate' };
      else outcomes[index] = { status: 'applied', metrics: result.results.get(index)! };
    }
  });
  return outcomes;
}

async function recordBatch(w: WritePath, readings: readonly Reading[]): Promise<BatchOutcome> {
  const { runs, results, flagged, sent, unsent } = await apply(w, readings, 'anomalies');
  const outcome: BatchOutcome = { anomalies: [], duplicates: [], rateLimited: [], counted: countedValues(sent, unsent, flagged) };
  runs.forEach((run, r) => {
    const result = results[r]!;
    if (result.kind === 'limited') outcome.rateLimited.push(...run.events.map((index) => ({ index, retryAfterMs: result.retryAfterMs })));
    else outcome.duplicates.push(...result.duplicates);
  });
  outcome.anomalies = flagged.map(({ at, stored }) => ({ index: at.index, ...presentAnomaly(stored) }));
  outcome.duplicates.sort((a, b) => a - b);
  outcome.rateLimited.sort((a, b) => a.index - b.index);
  return outcome;
}

interface ValueCounts {
  events: number;
  perMetric: Map<string, number>;
}

/** Events, and values per metric, of the readings at `indexes`. */
function valueCounts(readings: readonly Reading[], indexes: Iterable<number>): ValueCounts {
  const counts: ValueCounts = { events: 0, perMetric: new Map() };
  for (const index of indexes) {
    counts.events++;
    for (const [name] of readings[index]!.metrics) counts.perMetric.set(name, (counts.perMetric.get(name) ?? 0) + 1);
  }
  return counts;
}

function increments(counts: ValueCounts, sign: 1 | -1): Increments {
  const out: Increments = new Map([['events', sign * counts.events]]);
  for (const [name, n] of counts.perMetric) out.set(`events:${name}`, sign * n);
  return out;
}

/** Values applied per metric: those sent less those not applied, with the flagged ones. */
function countedValues(sent: ValueCounts, unsent: ValueCounts | undefined, flagged: ReadonlyArray<{ at: Flagged }>): Counted {
  const counted: Counted = new Map();
  for (const [name, n] of sent.perMetric) {
    const values = n - (unsent?.perMetric.get(name) ?? 0);
    if (values > 0) counted.set(name, { values, anomalies: 0 });
  }
  for (const { at } of flagged) counted.get(at.metric)!.anomalies++;
  return counted;
}

/** The flagged values of all runs in request order (stable: one event's metrics keep their order). */
function flaggedValues(results: readonly RunResult[], readings: readonly Reading[], now: number) {
  const all = results.flatMap((result) => (result.kind === 'applied' ? result.flagged : []));
  all.sort((a, b) => a.index - b.index);
  return all.map((at) => {
    const stored: StoredAnomaly = {
      device_id: readings[at.index]!.deviceId,
      metric: at.metric,
      value: at.value,
      zscore: at.zscore,
      avg: at.avg,
      timestamp: readings[at.index]!.timestamp,
      detected_at: now,
    };
    return { at, stored };
  });
}

// The events are applied: refusing them would invite a retry that applies them twice.
function tallyFailed(error: unknown): void {
  console.error(JSON.stringify({ severity: 'WARNING', message: 'tally failed; totals undercount', error: String(error) }));
}

/** Drops devices idle past the TTL from the device index, at most once a minute per process. */
function pruner(redis: Redis | Cluster, ttlMs: number): (now: number) => void {
  let last = 0;
  return (now) => {
    if (now - last <= PRUNE_EVERY_MS) return;
    last = now;
    void redis.zremrangebyscore(keys.devices, '-inf', now - ttlMs).catch(() => undefined);
  };
}
