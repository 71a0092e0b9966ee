import type { Cluster, Redis } from 'ioredis';
import type { StoredAnomaly } from './anomaly-record.js';
import { coalescer } from './coalescer.js';
import type { FunctionCaller } from './functions.js';
import { keys } from './keys.js';
import { tallyFunction } from './scripts.js';

/** The bookkeeping of one request, any part of which may be left out. */
export interface TallyEntry {
  /** Devices written now (the device index). */
  devices?: Iterable<string>;
  /** Anomalies found, oldest first (the global recent list). */
  anomalies?: readonly StoredAnomaly[];
  /** Series (`seriesMember`) whose expiry was pushed back, with when (ms). */
  series?: ReadonlyArray<readonly [string, number]>;
  /** Episodes opened, and closed, oldest first: (global id, packed record). */
  opened?: ReadonlyArray<readonly [string, Buffer]>;
  closed?: ReadonlyArray<readonly [string, Buffer]>;
  /** Devices whose outbox the record calls appended to (for the dispatcher to find). */
  outbox?: Iterable<string>;
}

/** Adds the bookkeeping of one request; resolves once it is stored. */
export type Tally = (entry: TallyEntry) => Promise<unknown>;

interface Merged {
  devices: Set<string>;
  anomalies: StoredAnomaly[];
  series: Map<string, number>;
  opened: Array<readonly [string, Buffer]>;
  closed: Array<readonly [string, Buffer]>;
  outbox: Set<string>;
}

const TALLY_KEYS = [keys.devices, keys.anomalies, keys.series, keys.episodes, keys.episodeRecords, keys.outboxDevices];

/** The ARGV of one tally.lua call, in the layout its header documents (its KEYS are always TALLY_KEYS). */
function encodeTally(merged: Merged, now: number, cap: number) {
  const args: Array<string | number | Buffer> = [now, cap, merged.devices.size, ...merged.devices];
  args.push(merged.series.size);
  for (const [member, at] of merged.series) args.push(at, member);
  args.push(merged.opened.length, ...merged.opened.flat(), merged.closed.length, ...merged.closed.flat());
  args.push(merged.outbox.size, ...merged.outbox);
  for (const a of merged.anomalies) args.push(JSON.stringify(a));
  return args;
}

/**
 * The bookkeeping over all devices (device index, recent anomalies and episodes, live series, outbox
 * devices; the totals are counted by the record calls), merged over
 * the requests of one turn of the event loop into one tally call: one Redis command per turn instead of
 * one per request.
 */
export function createTally(fcall: FunctionCaller, recentAnomalies: number): Tally {
  const turn = coalescer(emptyMerged, (merged) => fcall(tallyFunction, TALLY_KEYS, encodeTally(merged, Date.now(), recentAnomalies)));
  return (entry) => {
    const { batch: merged, done } = turn();
    for (const device of entry.devices ?? []) merged.devices.add(device);
    if (entry.anomalies) merged.anomalies.push(...entry.anomalies);
    if (entry.opened) merged.opened.push(...entry.opened);
    if (entry.closed) merged.closed.push(...entry.closed);
    for (const device of entry.outbox ?? []) merged.outbox.add(device);
    for (const [member, at] of entry.series ?? []) merged.series.set(member, Math.max(at, merged.series.get(member) ?? 0));
    return done;
  };
}

const emptyMerged = (): Merged => ({ devices: new Set(), anomalies: [], series: new Map(), opened: [], closed: [], outbox: new Set() });

const PRUNE_EVERY_MS = 60_000;

/** Drops devices idle past the TTL from the device index and the series count, at most once a minute per process. */
export function pruner(redis: Redis | Cluster, ttlMs: number): (now: number) => void {
  let last = 0;
  return (now) => {
    if (now - last <= PRUNE_EVERY_MS) return;
    last = now;
    void redis.zremrangebyscore(keys.devices, '-inf', now - ttlMs).catch(() => undefined);
    void redis.zremrangebyscore(keys.series, '-inf', now - ttlMs).catch(() => undefined);
  };
}
