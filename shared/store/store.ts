import type { Config } from '../config/load.js';
import { type Metrics, processMetrics } from '../telemetry/metrics.js';
import { type Client, connect, storeError } from './connection.js';
import { masters } from './masters.js';
import { createHeadroom } from './headroom.js';
import { type Reads, createReads } from './reads.js';
import { type Outbox, createOutbox } from './outbox.js';
import { type Recorder, createRecorder } from './recorder.js';
import { createWritePath } from './write-path.js';

export type { AnomalyRecord } from './anomaly-record.js';
export type { Outbox, OutboxEntry } from './outbox.js';
export type { DeviceAnomalies, SeriesView, Totals } from './reads.js';
export type { BatchAnomaly, BatchOutcome, EventOutcome, MetricResult } from './recorder.js';

/** What the functions do with Redis: the write path, the reads, health and shutdown. */
export interface Store extends Recorder, Reads {
  /** Whether Redis answers PING now (never throws). */
  ping(): Promise<boolean>;
  /**
   * Whether Redis is too full for a writer to be ready: true from READY_MEMORY_HIGH of maxmemory (the
   * fullest master of a Cluster, noeviction only) until usage is back below READY_MEMORY_LOW. Never
   * throws; when it cannot tell, it keeps its last answer (false at first).
   */
  full(): Promise<boolean>;
  /**
   * used_memory / maxmemory of the fullest Redis (master) that refuses writes when full (noeviction);
   * 0 when none has a maxmemory or Redis evicts; undefined when it cannot tell (never throws).
   */
  memoryUse(): Promise<number | undefined>;
  /** The devices' outboxes of anomaly events, for the dispatcher (shared/outbox). */
  readonly outbox: Outbox;
  close(): Promise<void>;
}

/**
 * Connects to Redis and returns the typed operations of the service; the wing is the only importer of
 * ioredis. A failure because Redis is away comes out as StoreUnavailableError, whatever ioredis said.
 * Its operations are timed on `metrics` (the process's unless given).
 */
export function createStore(config: Config, metrics: Pick<Metrics, 'redisTimer'> = processMetrics()): Store {
  const redis = connect(config);
  const { redisTimer } = metrics;
  const writePath = createWritePath(redis, config, redisTimer);
  const operations: Recorder & Reads = {
    ...createRecorder(writePath),
    ...createReads(redis, config.seriesTtlSeconds, redisTimer),
  };
  const headroom = createHeadroom(config.readyMemoryHigh, config.readyMemoryLow);
  return {
    ...typedErrors(operations),
    ping: () => ping(redis),
    full: async () => headroom.short(await memoryUse(redis)),
    memoryUse: () => memoryUse(redis),
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

async function memoryUse(redis: Client): Promise<number | undefined> {
  try {
    const reports = await Promise.all(masters(redis).map((node) => node.info('memory')));
    return Math.max(0, ...reports.map(usedShare));
  } catch {
    return undefined;
  }
}

/**
 * From INFO memory: used_memory / maxmemory when Redis refuses writes at its limit (noeviction: it then
 * answers writes with OOM), else 0 (no limit, or it evicts to make room).
 */
function usedShare(info: string): number {
  const field = (name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1];
  const max = Number(field('maxmemory') ?? 0);
  if (!(max > 0) || field('maxmemory_policy') !== 'noeviction') return 0;
  return Number(field('used_memory') ?? 0) / max;
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
