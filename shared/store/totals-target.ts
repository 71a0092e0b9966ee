import calculateSlot from 'cluster-key-slot';
import type { Client } from './connection.js';
import { keys } from './keys.js';
import { slotTag } from './slot-tags.js';

/** Where a record call over these devices counts its events, once that place is known to the readers. */
export type TotalsTarget = (device: string) => string | Promise<string>;

/**
 * The totals hash a record call adds to, in the same atomic call as its events (so a count cannot be
 * lost between two calls): the global one on a single Redis; on Redis Cluster, where a call may touch
 * one hash slot only, the shard of the slot of its devices. A shard is added to the readers' set before
 * its first record call (once per process), so no acknowledged count is ever in a shard nobody reads.
 */
export function totalsTarget(redis: Client): TotalsTarget {
  if (!redis.isCluster) return () => keys.totals;
  const registered = new Map<string, Promise<string>>();
  return (device) => {
    const tag = slotTag(calculateSlot(`{${device}}`));
    let known = registered.get(tag);
    if (!known) {
      known = redis.sadd(keys.totalsShards, tag).then(() => keys.totalsShard(tag));
      registered.set(tag, known);
      known.catch(() => registered.delete(tag));
    }
    return known;
  };
}

/** The tags of every totals shard (none on a single Redis). */
export async function totalsShards(redis: Client): Promise<string[]> {
  return redis.smembers(keys.totalsShards);
}
