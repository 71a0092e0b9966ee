import type { Cluster, Redis } from 'ioredis';
import type { Config } from '../config/load.js';
import type { Reading } from '../schemas/event.js';
import type { RedisTimer } from '../telemetry/metrics.js';
import { type AnomalyRecord, type StoredAnomaly, presentAnomaly } from './anomaly-record.js';
import { type EpisodeRecord, parseEpisode, presentEpisode } from './episode-record.js';
import { planCalls } from './call-plan.js';
import { storeError } from './connection.js';
import { StoreFullError } from './errors.js';
import { keys, seriesMember } from './keys.js';
import { type DeviceRun, type EpisodeChange, type Flagged, type MetricResult, type ReplyMode, type RunResult, decodeRecord, encodeRecord, firstStep, runsByDevice } from './record-script.js';
import { type TallyEntry, createTally } from './tally.js';
import { type TotalsTarget, totalsTarget } from './totals-target.js';

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

export interface Recorder {
  /**
   * Applies one event. The single events of one turn of the event loop share record calls; each still
   * gets its own outcome, and a failure of another device's run does not fail it.
   */
  recordOne(reading: Reading): Promise<EventOutcome>;
  /** Applies a batch and returns what became of every event. */
  recordDetailed(readings: readonly Reading[]): Promise<EventOutcome[]>;
  /** Applies a batch (its devices share record calls, all in one round trip); returns its anomalies and refusals. */
  recordBatch(readings: readonly Reading[]): Promise<BatchOutcome>;
}

interface Applied {
  /** One result per run, in the order of the runs given. */
  results: RunResult[];
  /** Flagged values in request order, with their stored records. */
  flagged: Array<{ at: Flagged; stored: StoredAnomaly }>;
  /** Episodes opened and closed, in request order. */
  episodes: EpisodeChange[];
  /** The events applied now, and their values per metric. */
  counts: ValueCounts;
}

/** What the write path works with. */
interface WritePath {
  readonly redis: Redis | Cluster;
  readonly config: Config;
  readonly tally: ReturnType<typeof createTally>;
  readonly totals: TotalsTarget;
  readonly prune: (now: number) => void;
  readonly redisTimer: RedisTimer;
}

/**
 * The write path: record.lua calls that each carry the runs of many devices (rate limit, ids, series and
 * the device's anomaly list, atomically per run), and the bookkeeping over all devices through the
 * merged tally; replies become typed outcomes.
 */
export function createRecorder(redis: Redis | Cluster, config: Config, redisTimer: RedisTimer): Recorder {
  const w: WritePath = {
    redis,
    config,
    tally: createTally(redis, config.recentAnomalies),
    totals: totalsTarget(redis),
    prune: pruner(redis, config.seriesTtlSeconds * 1000),
    redisTimer,
  };
  return {
    recordOne: coalesced(w),
    recordDetailed: async (readings) => {
      const runs = runsByDevice(readings);
      const { results } = await apply(w, readings, runs, 'full');
      return outcomes(readings.length, runs, throwIfFailed(results));
    },
    recordBatch: (readings) => recordBatch(w, readings),
  };
}

/*
 * The totals are counted by the record calls themselves, atomically with the events. The rest of the
 * bookkeeping over all devices (device index, recent anomalies and episodes, live series, outbox
 * devices) is one tally made once the replies say what was applied: a device whose events were all
 * refused or duplicates is not indexed. It costs a round trip after the record calls.
 */
async function apply(w: WritePath, readings: readonly Reading[], runs: DeviceRun[], mode: ReplyMode): Promise<Applied> {
  const now = Date.now();
  const calls = planCalls(runs, w.redis.isCluster);
  const targets = calls.map((group) => w.totals(group[0]!.device));
  const totals = targets.some((t) => typeof t !== 'string') ? await Promise.all(targets) : (targets as string[]);
  w.prune(now);
  const done = w.redisTimer(mode === 'full' ? 'record' : 'record_batch');
  const decoded = await sendCalls(calls, (group, c) => {
    const reply = w.redis.recordBuffer(...encodeRecord(group, readings, now, mode, w.config, totals[c]!));
    return reply.then((value) => decodeRecord(group, readings, mode, value));
  });
  done();
  const byRun = new Map<DeviceRun, RunResult>();
  calls.forEach((group, c) => group.forEach((run, i) => byRun.set(run, decoded[c]![i]!)));
  const results = runs.map((run) => byRun.get(run)!);
  const flagged = flaggedValues(results, readings, now);
  const episodes = results.flatMap((result) => (result.kind === 'applied' ? result.episodes : [])).sort((a, b) => firstStep(a) - firstStep(b));
  const { entry, counts } = bookkeeping(readings, runs, results, flagged, now);
  addEpisodes(entry, episodes, readings);
  if (w.config.sinkUrl && episodes.length > 0) entry.outbox = new Set(episodes.map((e) => readings[firstStep(e)]!.deviceId));
  if (counts.events > 0) await w.tally(entry).catch(tallyFailed);
  return { results, flagged, episodes, counts };
}

/**
 * Record calls of one request in flight at once. A call's arguments, its encoded command and its reply
 * are held only while it is in flight, so a batch holds a few calls' worth at a time rather than all of
 * its calls' (retained heap per event in flight, 20 batches at once: 2.3 KB with all in flight, 1.35 KB
 * with 8, 1.16 KB with 4; BENCHMARKS.md). More would not be faster: Redis runs the calls one after the
 * other, and while it runs one (~1-2 ms) the next three wait in its queue, so it never idles for a round trip.
 */
const CALLS_IN_FLIGHT = 4;

/** Runs `send` over the calls, CALLS_IN_FLIGHT at a time; a failed call's runs each fail with its error. */
async function sendCalls(calls: DeviceRun[][], send: (group: DeviceRun[], c: number) => Promise<RunResult[]>): Promise<RunResult[][]> {
  const out: RunResult[][] = new Array(calls.length);
  let next = 0;
  const worker = async () => {
    while (next < calls.length) {
      const c = next++;
      const group = calls[c]!;
      out[c] = await send(group, c).catch((error: unknown) => group.map((): RunResult => ({ kind: 'failed', error: error as Error })));
    }
  };
  await Promise.all(Array.from({ length: Math.min(CALLS_IN_FLIGHT, calls.length) }, worker));
  return out;
}

/** Episodes in the tally: the global list (ids `<device>/<start>/<metric>`; one that a run opened and closed goes in as opened, with its closed record). */
function addEpisodes(entry: TallyEntry, episodes: readonly EpisodeChange[], readings: readonly Reading[]): void {
  const global = (e: EpisodeChange) => [`${readings[firstStep(e)]!.deviceId}/${e.id}`, e.record] as const;
  entry.opened = episodes.filter((e) => e.opened !== undefined).map(global);
  entry.closed = episodes.filter((e) => e.opened === undefined).map(global);
}

/** The tally of what was applied: the devices written, anomalies, series whose expiry moved; and the values applied per metric. */
function bookkeeping(readings: readonly Reading[], runs: DeviceRun[], results: RunResult[], flagged: Applied['flagged'], now: number) {
  const events: number[] = [];
  const devices: string[] = [];
  const series: Array<[string, number]> = [];
  runs.forEach((run, i) => {
    const result = results[i]!;
    if (result.kind !== 'applied') return;
    const applied = run.events.filter((index) => !result.duplicates.has(index));
    if (applied.length === 0) return;
    events.push(...applied);
    devices.push(run.device);
    for (const metric of result.refreshed) series.push([seriesMember(run.device, metric), now]);
  });
  const counts = valueCounts(readings, events);
  const entry: TallyEntry = { devices, anomalies: flagged.map((f) => f.stored), series };
  return { entry, counts };
}

/** The results, or the first failure thrown (for callers that answer a request as a whole). */
function throwIfFailed(results: RunResult[]): RunResult[] {
  const failed = results.find((result) => result.kind === 'failed');
  if (failed) throw failed.error;
  return results;
}

/** What became of each event, from the results of the runs that hold them. */
function outcomes(count: number, runs: readonly DeviceRun[], results: readonly RunResult[]): EventOutcome[] {
  const out: EventOutcome[] = new Array(count);
  runs.forEach((run, r) => {
    const result = results[r]!;
    for (const index of run.events) out[index] = eventOutcome(result, index);
  });
  return out;
}

function eventOutcome(result: RunResult, index: number): EventOutcome {
  if (result.kind === 'failed') throw result.error;
  if (result.kind === 'limited') return { status: 'rate_limited', retryAfterMs: result.retryAfterMs };
  if (result.duplicates.has(index)) return { status: 'duplicate' };
  return { status: 'applied', metrics: result.results.get(index)! };
}

/**
 * Single events, coalesced: those arriving in one turn of the event loop leave together, each as its
 * own run (so two events of one device are limited and checked for duplicates one after the other, as
 * two requests would be), and each request gets its own outcome or its own error.
 */
function coalesced(w: WritePath): (reading: Reading) => Promise<EventOutcome> {
  type Waiting = { reading: Reading; resolve: (outcome: EventOutcome) => void; reject: (error: unknown) => void };
  let queue: Waiting[] | undefined;
  const flush = async (waiting: Waiting[]) => {
    const readings = waiting.map((entry) => entry.reading);
    const runs = readings.flatMap((_, i) => runsByDevice(readings, [i]));
    try {
      const { results } = await apply(w, readings, runs, 'full');
      waiting.forEach((entry, i) => {
        try {
          entry.resolve(eventOutcome(results[i]!, i));
        } catch (error) {
          entry.reject(error);
        }
      });
    } catch (error) {
      for (const entry of waiting) entry.reject(error);
    }
  };
  return (reading) =>
    new Promise((resolve, reject) => {
      if (!queue) {
        const waiting: Waiting[] = (queue = []);
        setImmediate(() => {
          queue = undefined;
          void flush(waiting);
        });
      }
      queue.push({ reading, resolve, reject });
    });
}

async function recordBatch(w: WritePath, readings: readonly Reading[]): Promise<BatchOutcome> {
  const runs = runsByDevice(readings);
  const { results, flagged, episodes, counts } = await apply(w, readings, runs, 'anomalies');
  const outcome: BatchOutcome = { anomalies: [], alerts: [], duplicates: [], rateLimited: [], storeFull: [], counted: countedValues(counts, flagged, episodes) };
  // A full Redis refuses a call before it runs: its devices are refused whole, and said so. Any other
  // failure fails the request (its events were not counted).
  let failure: Error | undefined;
  runs.forEach((run, r) => {
    const result = results[r]!;
    if (result.kind === 'limited') outcome.rateLimited.push(...run.events.map((index) => ({ index, retryAfterMs: result.retryAfterMs })));
    else if (result.kind === 'applied') outcome.duplicates.push(...result.duplicates);
    else {
      if (storeError(result.error) instanceof StoreFullError) outcome.storeFull.push(...run.events);
      else failure ??= result.error;
    }
  });
  if (failure) throw failure;
  outcome.storeFull.sort((a, b) => a - b);
  outcome.anomalies = flagged.map(({ at, stored }) => ({ index: at.index, ...presentAnomaly(stored) }));
  // An episode the batch opened and closed again shows closed, with its peak.
  outcome.alerts = episodes.filter((e) => e.opened !== undefined).map((e) => ({ index: e.opened!, ...presentEpisode(parseEpisode(e.record, e.id, readings[e.opened!]!.deviceId)) }));
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

/** Values applied per metric, with the flagged ones and the episodes opened and closed. */
function countedValues(applied: ValueCounts, flagged: ReadonlyArray<{ at: Flagged }>, episodes: readonly EpisodeChange[]): Counted {
  const counted: Counted = new Map();
  for (const [name, values] of applied.perMetric) counted.set(name, { values, anomalies: 0, opened: 0, closed: 0 });
  for (const { at } of flagged) counted.get(at.metric)!.anomalies++;
  for (const e of episodes) {
    const count = counted.get(e.metric)!;
    if (e.opened !== undefined) count.opened++;
    if (e.closed !== undefined) count.closed++;
  }
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

// The events are applied and counted (the record calls count them): refusing them would invite a retry
// that applies them twice. What is missed is re-added by the devices' next writes (device index, live
// series) or was only a recent list's entry.
function tallyFailed(error: unknown): void {
  console.error(JSON.stringify({ severity: 'WARNING', message: 'bookkeeping failed; device index and recent lists miss this write until the devices write again', error: String(error) }));
}

/** Drops devices idle past the TTL from the device index and the series count, at most once a minute per process. */
function pruner(redis: Redis | Cluster, ttlMs: number): (now: number) => void {
  let last = 0;
  return (now) => {
    if (now - last <= PRUNE_EVERY_MS) return;
    last = now;
    void redis.zremrangebyscore(keys.devices, '-inf', now - ttlMs).catch(() => undefined);
    void redis.zremrangebyscore(keys.series, '-inf', now - ttlMs).catch(() => undefined);
  };
}
