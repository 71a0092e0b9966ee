import type { Cluster } from 'ioredis';
import type { Config } from '../config/load.js';
import { type Client, connect, storeError } from './connection.js';
import { type Reads, createReads } from './reads.js';
import { type Outbox, createOutbox } from './outbox.js';
import { type Recorder, createRecorder } from './recorder.js';

export type { AnomalyRecord } from './anomaly-record.js';
export type { Outbox, OutboxEntry } from './outbox.js';
export type { DeviceAnomalies, SeriesView, Totals } from './reads.js';
export type { BatchAnomaly, BatchOutcome, EventOutcome, MetricResult } from './recorder.js';

/** What the functions do with Redis: the write path, the reads, health and shutdown. */
export interface Store extends Recorder, Reads {
  /** Whether Redis answers PING now (never throws). */
  ping(): Promise<boolean>;
  /**
   * Whether Redis (any master of a Cluster) is at maxmemory with the noeviction policy, so that it
   * refuses writes (never throws; false when it cannot tell).
   */
  full(): Promise<boolean>;
  /** The devices' outboxes of anomaly events, for the dispatcher (shared/outbox). */
  readonly outbox: Outbox;
  close(): Promise<void>;
}

/**
 * Connects to Redis and returns the typed operations of the service; the wing is the only importer of
 * ioredis. A failure because Redis is away comes out as StoreUnavailableError, whatever ioredis said.
 */
export function createStore(config: Config): Store {
  const redis = connect(config);
  const operations: Recorder & Reads = { ...createRecorder(redis, config), ...createReads(redis, config.seriesTtlSeconds) };
  return {
    ...typedErrors(operations),
    ping: () => ping(redis),
    full: () => full(redis),
    outbox: createOutbox(redis, config.keyPrefix, config.seriesTtlSeconds),
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

async function ping(redis: Client): Promise<boolean> {
  try {
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  }
}

async function full(redis: Client): Promise<boolean> {
  try {
    const nodes = redis.isCluster ? (redis as Cluster).nodes('master') : [redis];
    const reports = await Promise.all(nodes.map((node) => node.info('memory')));
    return reports.some(refusesWrites);
  } catch {
    return false;
  }
}

/** From INFO memory: at or over maxmemory, and not allowed to evict (Redis then answers writes with OOM). */
function refusesWrites(info: string): boolean {
  const field = (name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1];
  const max = Number(field('maxmemory') ?? 0);
  return max > 0 && Number(field('used_memory') ?? 0) >= max && field('maxmemory_policy') === 'noeviction';
}

/** Wraps every operation so that its failures leave as the store's own errors. */
function typedErrors<T extends object>(operations: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, operation] of Object.entries(operations) as Array<[string, (...args: never[]) => Promise<unknown>]>) {
    wrapped[name] = async (...args: never[]) => {
      try {
        return await operation(...args);
      } catch (error) {
        throw storeError(error);
      }
    };
  }
  return wrapped as T;
}
