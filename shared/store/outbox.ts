import type { Cluster } from 'ioredis';
import type { Client } from './connection.js';
import type { StoredEpisode } from './episode-record.js';
import { keys } from './keys.js';

/** The consumer group record.lua makes with each outbox stream, and the one consumer name in it. */
const GROUP = 'dispatch';
const CONSUMER = 'dispatcher';
/** Dead letters kept (a stream over all devices, newest last). */
const DEAD_LETTER_CAP = 10_000;

/** One episode change waiting in a device's outbox (fields as record.lua appends them). */
export interface OutboxEntry {
  /** The stream entry id (`<ms>-<seq>`): when it was appended. */
  readonly entryId: string;
  readonly device: string;
  readonly step: 'opened' | 'closed';
  /** The episode's id within its device, `<start ms>/<metric>`. */
  readonly id: string;
  readonly record: StoredEpisode;
  /** z and rolling average of the value that opened (or closed) the episode; z null when infinite. */
  readonly z: number | null;
  readonly avg: number;
}

/**
 * The outbox operations the dispatcher needs. One consumer name serves every dispatcher: a device's
 * outbox is read only under its lease, so the group's pending list is simply "delivered, not yet
 * acknowledged" (by a dispatcher that failed, or died).
 */
export interface Outbox {
  /** Devices that may have entries to deliver. */
  devices(): Promise<string[]>;
  /** Takes the device's lease for `ms` unless another dispatcher holds it. */
  lease(device: string, owner: string, ms: number): Promise<boolean>;
  release(device: string, owner: string): Promise<void>;
  /** When the device's next delivery may be tried after failures (ms, 0 for now). */
  retryAt(device: string): Promise<number>;
  /** Removes the device from the set; an entry appended afterwards puts it back (through the tally). */
  forget(device: string): Promise<void>;
  remember(device: string): Promise<void>;
  /** Up to `count` entries, oldest first: those read before and not acknowledged, else new ones. */
  read(device: string, count: number): Promise<OutboxEntry[]>;
  /** Delivered (or dead-lettered): leaves the stream. */
  acknowledge(entry: OutboxEntry): Promise<void>;
  /** Counts a failed delivery and sets when to try again; returns the failures of this entry so far. */
  failed(entry: OutboxEntry, retryAt: (attempts: number) => number): Promise<number>;
  /** Moves the entry to the dead-letter stream, with why, and acknowledges it. */
  deadLetter(entry: OutboxEntry, event: unknown, attempts: number, error: string): Promise<void>;
  /** Finds every outbox stream (SCAN on each master) and adds its device to the set. */
  sweep(): Promise<number>;
}

const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

export function createOutbox(redis: Client, keyPrefix: string, ttlSeconds: number): Outbox {
  return {
    devices: () => redis.smembers(keys.outboxDevices),
    lease: async (device, owner, ms) => (await redis.set(keys.outboxLease(device), owner, 'PX', ms, 'NX')) === 'OK',
    release: async (device, owner) => {
      await redis.eval(RELEASE, 1, keys.outboxLease(device), owner);
    },
    retryAt: async (device) => Number((await redis.hget(keys.outboxRetries(device), 'next')) ?? 0),
    forget: async (device) => {
      await redis.srem(keys.outboxDevices, device);
    },
    remember: async (device) => {
      await redis.sadd(keys.outboxDevices, device);
    },
    read: (device, count) => read(redis, device, count),
    acknowledge: async (entry) => {
      const stream = keys.outbox(entry.device);
      await redis.multi().xack(stream, GROUP, entry.entryId).xdel(stream, entry.entryId).hdel(keys.outboxRetries(entry.device), entry.entryId).exec();
    },
    failed: async (entry, retryAt) => {
      const retries = keys.outboxRetries(entry.device);
      const attempts = await redis.hincrby(retries, entry.entryId, 1);
      await redis.multi().hset(retries, 'next', retryAt(attempts)).expire(retries, ttlSeconds).exec();
      return attempts;
    },
    deadLetter: async (entry, event, attempts, error) => {
      await redis.xadd(keys.deadLetters, 'MAXLEN', '~', DEAD_LETTER_CAP, '*', 'device', entry.device, 'entry', entry.entryId,
        'event', JSON.stringify(event), 'attempts', attempts, 'error', error);
      const stream = keys.outbox(entry.device);
      await redis.multi().xack(stream, GROUP, entry.entryId).xdel(stream, entry.entryId).hdel(keys.outboxRetries(entry.device), entry.entryId, 'next').exec();
    },
    sweep: () => sweep(redis, keyPrefix),
  };
}

type StreamReply = Array<[key: string, entries: Array<[id: string, fields: string[] | null]>]> | null;

async function read(redis: Client, device: string, count: number): Promise<OutboxEntry[]> {
  const stream = keys.outbox(device);
  const readFrom = async (from: '0' | '>') => {
    try {
      return (await redis.xreadgroup('GROUP', GROUP, CONSUMER, 'COUNT', count, 'STREAMS', stream, from)) as StreamReply;
    } catch (error) {
      // The stream expired (no group, no key): nothing to deliver.
      if (String(error).includes('NOGROUP')) return null;
      throw error;
    }
  };
  let reply = await readFrom('0');
  if (!reply?.[0]?.[1].length) reply = await readFrom('>');
  const entries = reply?.[0]?.[1] ?? [];
  const out: OutboxEntry[] = [];
  for (const [entryId, fields] of entries) {
    // An entry trimmed away (MAXLEN) while pending reads as null: there is nothing left to deliver.
    if (!fields) {
      await redis.xack(stream, GROUP, entryId);
      continue;
    }
    out.push(parseEntry(device, entryId, fields));
  }
  return out;
}

function parseEntry(device: string, entryId: string, fields: string[]): OutboxEntry {
  const f = new Map<string, string>();
  for (let i = 0; i < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
  const z = Number(f.get('z'));
  return {
    entryId, device, step: f.get('step') === '3' ? 'closed' : 'opened', id: f.get('id')!,
    record: JSON.parse(f.get('record')!) as StoredEpisode, z: Number.isFinite(z) ? z : null, avg: Number(f.get('avg')),
  };
}

const OUTBOX_KEY = /^dev:\{(.+)\}:outbox$/;

/** Outbox streams by SCAN on every master (KEY_PREFIX is not applied to a MATCH pattern: it is added here). */
async function sweep(redis: Client, keyPrefix: string): Promise<number> {
  const nodes = redis.isCluster ? (redis as Cluster).nodes('master') : [redis];
  const found = new Set<string>();
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, names] = await node.scan(cursor, 'MATCH', `${keyPrefix}dev:*:outbox`, 'COUNT', 1000, 'TYPE', 'stream');
      cursor = next;
      for (const name of names) {
        const device = OUTBOX_KEY.exec(name.slice(keyPrefix.length))?.[1];
        if (device) found.add(device);
      }
    } while (cursor !== '0');
  }
  if (found.size > 0) await redis.sadd(keys.outboxDevices, ...found);
  return found.size;
}
