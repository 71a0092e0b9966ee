import type { Cluster, Redis } from 'ioredis';
import type { StoredAnomaly } from './anomaly-record.js';
import { keys } from './keys.js';

/** Increments of the totals hash: `events`, `events:<metric>`, `anomalies`, `anomalies:<metric>`. */
export type Increments = Map<string, number>;

/** Adds the bookkeeping of one request; resolves once it is stored. */
export type Tally = (devices: Iterable<string>, increments: Increments, anomalies?: readonly StoredAnomaly[]) => Promise<unknown>;

/** The KEYS and ARGV of one tally.lua call, in the layout its header documents. */
export function encodeTally(devices: readonly string[], increments: Increments, anomalies: readonly StoredAnomaly[], now: number, cap: number) {
  const args: Array<string | number> = [keys.devices, keys.totals, keys.anomalies, now, cap, devices.length, ...devices, increments.size];
  for (const [field, n] of increments) args.push(field, n);
  for (const a of anomalies) args.push(JSON.stringify(a));
  return args;
}

interface Pending {
  devices: Set<string>;
  increments: Increments;
  anomalies: StoredAnomaly[];
  done: Promise<unknown>;
}

/**
 * The bookkeeping over all devices (device index, totals, recent anomalies), merged over the requests of
 * one turn of the event loop into one tally call: one Redis command per turn instead of one per request.
 */
export function createTally(redis: Redis | Cluster, recentAnomalies: number): Tally {
  let pending: Pending | undefined;
  return (devices, increments, anomalies = []) => {
    if (!pending) {
      const batch: Pending = { devices: new Set(), increments: new Map(), anomalies: [], done: Promise.resolve() };
      batch.done = new Promise((resolve) => setImmediate(resolve)).then(() => {
        pending = undefined;
        return redis.tally(...encodeTally([...batch.devices], batch.increments, batch.anomalies, Date.now(), recentAnomalies));
      });
      pending = batch;
    }
    for (const device of devices) pending.devices.add(device);
    for (const [field, n] of increments) pending.increments.set(field, (pending.increments.get(field) ?? 0) + n);
    pending.anomalies.push(...anomalies);
    return pending.done;
  };
}
