import type { Cluster, Redis } from 'ioredis';
import type { Config } from '../config/load.js';
import type { Reading } from '../schemas/event.js';
import type { RedisTimer } from '../telemetry/metrics.js';
import type { StoredAnomaly } from './anomaly-record.js';
import { planCalls } from './call-plan.js';
import { type FunctionCaller, functionCaller } from './functions.js';
import { type DeviceRun, type EpisodeChange, type Flagged, type Reply, type ReplyMode, type RunResult, decodeRecord, encodeRecord, firstStep } from './record-script.js';
import { recordFunction } from './scripts.js';
import { type Tally, createTally, pruner } from './tally.js';
import { tallyEntry, tallyFailed } from './tally-entry.js';
import { type TotalsTarget, totalsTarget } from './totals-target.js';

/** What the write path works with: one per store, shared by its ways of recording (one tally per turn of the event loop, one pruner). */
export interface WritePath {
  readonly redis: Redis | Cluster;
  readonly config: Config;
  readonly tally: Tally;
  readonly totals: TotalsTarget;
  readonly prune: (now: number) => void;
  readonly redisTimer: RedisTimer;
  readonly fcall: FunctionCaller;
}

/** The write path of one store; every recorder of the store must share it (its tally merges their bookkeeping). */
export function createWritePath(redis: Redis | Cluster, config: Config, redisTimer: RedisTimer): WritePath {
  const fcall = functionCaller(redis);
  return {
    redis,
    config,
    tally: createTally(fcall, config.recentAnomalies),
    totals: totalsTarget(redis),
    prune: pruner(redis, config.seriesTtlSeconds * 1000),
    redisTimer,
    fcall,
  };
}

export interface Applied {
  /** One result per run, in the order of the runs given. */
  results: RunResult[];
  /** Flagged values in request order, with their stored records. */
  flagged: Array<{ at: Flagged; stored: StoredAnomaly }>;
  /** Episodes opened and closed, in request order. */
  episodes: EpisodeChange[];
}

/**
 * Applies the runs (record.lua calls of many runs each, every run atomic), then their bookkeeping through
 * the merged tally; a failed call fails its own runs only, and a failed tally fails nothing.
 */
export async function apply(w: WritePath, readings: readonly Reading[], runs: DeviceRun[], mode: ReplyMode): Promise<Applied> {
  const now = Date.now();
  const calls = planCalls(runs, w.redis.isCluster);
  const targets = calls.map((group) => w.totals(group[0]!.device));
  const totals = targets.some((t) => typeof t !== 'string') ? await Promise.all(targets) : (targets as string[]);
  w.prune(now);
  const done = w.redisTimer(mode === 'full' ? 'record' : 'record_batch');
  const decoded = await sendCalls(calls, (group, c) => {
    const [keyList, args] = encodeRecord(group, readings, now, mode, w.config, totals[c]!);
    return w.fcall(recordFunction, keyList, args).then((value) => decodeRecord(group, readings, mode, value as Reply[]));
  });
  done();
  const results = inRunOrder(runs, calls, decoded);
  const flagged = flaggedValues(results, readings, now);
  const episodes = fromApplied(results, (result) => result.episodes).sort((a, b) => firstStep(a) - firstStep(b));
  const entry = tallyEntry({ readings, runs, results, anomalies: flagged.map((f) => f.stored), episodes, now }, Boolean(w.config.sinkUrl));
  if (entry) await w.tally(entry).catch(tallyFailed);
  return { results, flagged, episodes };
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

/** The calls' results in the order of the runs: the calls' own order but on a Cluster (runs grouped by slot). */
function inRunOrder(runs: readonly DeviceRun[], calls: readonly DeviceRun[][], decoded: readonly RunResult[][]): RunResult[] {
  const results: RunResult[] = [];
  for (let c = 0; c < calls.length; c++) {
    const group = calls[c]!;
    for (let i = 0; i < group.length; i++) {
      if (group[i] !== runs[results.length]) return byRun(runs, calls, decoded);
      results.push(decoded[c]![i]!);
    }
  }
  return results.length === runs.length ? results : byRun(runs, calls, decoded);
}

function byRun(runs: readonly DeviceRun[], calls: readonly DeviceRun[][], decoded: readonly RunResult[][]): RunResult[] {
  const results = new Map<DeviceRun, RunResult>();
  calls.forEach((group, c) => group.forEach((run, i) => results.set(run, decoded[c]![i]!)));
  return runs.map((run) => results.get(run)!);
}

/** The items `pick` gives of every applied run, in the order of the runs. */
function fromApplied<T>(results: readonly RunResult[], pick: (result: Extract<RunResult, { kind: 'applied' }>) => readonly T[]): T[] {
  const out: T[] = [];
  for (const result of results) {
    if (result.kind !== 'applied') continue;
    const items = pick(result);
    for (let i = 0; i < items.length; i++) out.push(items[i]!);
  }
  return out;
}

/** The flagged values of all runs in request order (stable: one event's metrics keep their order). */
function flaggedValues(results: readonly RunResult[], readings: readonly Reading[], now: number) {
  const all = fromApplied(results, (result) => result.flagged);
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
