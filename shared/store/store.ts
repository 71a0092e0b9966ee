import { readFileSync } from 'node:fs';
import { Cluster, Redis, type Result } from 'ioredis';
import type { Config } from '../config.js';
import { keys } from './keys.js';
import { redisTimer } from '../telemetry/metrics.js';
import { type AnomalyRecord, type Recorder, createRecorder } from './recorder.js';
import { STATE_FIELD, decodeState } from './series-state.js';

export type { AnomalyRecord, BatchAnomaly, BatchOutcome, EventOutcome, MetricResult } from './recorder.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    record(numKeys: number, ...keysAndArgs: Array<string | number>): Result<Array<string | number>, Context>;
    tally(...keysAndArgs: Array<string | number>): Result<null, Context>;
  }
}

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
const SCAN_CHUNK = 500;

export interface SeriesView {
  metric: string;
  value: number;
  avg: number;
  zscore: number | null;
  anomaly: boolean;
  samples: number;
  count: number;
  anomalies: number;
  timestamp: string;
  updated_at: string;
}

export interface Totals {
  events: number;
  anomalies: number;
  per_metric: Record<string, { events: number; anomalies: number }>;
}

/** What the functions do with Redis: the write path (recorder.ts) and the reads. */
export interface Store extends Recorder {
  series(device: string, metric?: string): Promise<SeriesView[]>;
  devices(limit: number): Promise<Array<{ device_id: string; last_seen: string }>>;
  totals(): Promise<Totals>;
  recentAnomalies(limit: number, device?: string): Promise<AnomalyRecord[]>;
  counts(): Promise<{ devices: number; series: number }>;
  ping(): Promise<boolean>;
  readonly redis: Redis | Cluster;
  close(): Promise<void>;
}

/** Connects to Redis and returns the typed operations of the service; the only module that knows ioredis. */
export function createStore(config: Config): Store {
  const redis = connect(config);
  let lastError = '';
  redis.on('error', (error: Error) => {
    if (error.message === lastError) return;
    lastError = error.message;
    console.error(JSON.stringify({ severity: 'WARNING', message: 'redis connection error', error: error.message }));
  });
  redis.on('ready', () => {
    lastError = '';
    // Queue commands only while first connecting; after that, a request made while Redis is away
    // fails at once (503 with Retry-After) rather than waiting for a reconnection.
    redis.options.enableOfflineQueue = false;
  });

  const ttlMs = config.seriesTtlSeconds * 1000;

  return {
    redis,
    ...createRecorder(redis, config),

    async series(device, metric) {
      const done = redisTimer('series');
      const live = Date.now() - ttlMs;
      const metrics = metric
        ? [metric]
        : (await redis.zrangebyscore(keys.seriesIndex(device), live, '+inf')).sort();
      const rows = await Promise.all(metrics.map((m) => redis.hgetBuffer(keys.state(device, m), STATE_FIELD)));
      done();
      return rows.flatMap((packed, i): SeriesView[] => {
        const state = decodeState(packed);
        if (!state) return [];
        return [
          {
            metric: metrics[i]!,
            value: state.last,
            avg: state.avg,
            zscore: Number.isFinite(state.z) ? state.z : null,
            anomaly: state.anomaly === 1,
            samples: state.n,
            count: state.count,
            anomalies: state.anomalies,
            timestamp: new Date(state.ts).toISOString(),
            updated_at: new Date(state.updated).toISOString(),
          },
        ];
      });
    },

    async devices(limit) {
      const flat = await redis.zrevrangebyscore(keys.devices, '+inf', Date.now() - ttlMs, 'WITHSCORES', 'LIMIT', 0, limit);
      const out: Array<{ device_id: string; last_seen: string }> = [];
      for (let i = 0; i < flat.length; i += 2) {
        out.push({ device_id: flat[i]!, last_seen: new Date(Number(flat[i + 1])).toISOString() });
      }
      return out;
    },

    async totals() {
      const done = redisTimer('totals');
      const hash = await redis.hgetall(keys.totals);
      done();
      // A Map, not an object: "constructor" is a valid metric name.
      const perMetric = new Map<string, { events: number; anomalies: number }>();
      for (const [field, raw] of Object.entries(hash)) {
        const [kind, metric] = field.split(':') as [string, string | undefined];
        if (!metric || (kind !== 'events' && kind !== 'anomalies')) continue;
        const entry = perMetric.get(metric) ?? { events: 0, anomalies: 0 };
        entry[kind] = Number(raw);
        perMetric.set(metric, entry);
      }
      // A metric whose events were all taken back (a failed script) has only zero fields left.
      const kept = [...perMetric].filter(([, v]) => v.events !== 0 || v.anomalies !== 0);
      const per_metric = Object.fromEntries(kept.sort(([a], [b]) => (a < b ? -1 : 1)));
      return { events: Number(hash.events ?? 0), anomalies: Number(hash.anomalies ?? 0), per_metric };
    },

    async recentAnomalies(limit, device) {
      const list = await redis.lrange(device ? keys.deviceAnomalies(device) : keys.anomalies, 0, limit - 1);
      return list.map((text) => {
        if (!device) return JSON.parse(text) as AnomalyRecord;
        // The script writes raw numbers (ms); present them like the global list.
        const raw = JSON.parse(text) as Omit<AnomalyRecord, 'timestamp' | 'detected_at'> & { timestamp: number; detected_at: number };
        return { ...raw, timestamp: new Date(raw.timestamp).toISOString(), detected_at: new Date(raw.detected_at).toISOString() };
      });
    },

    async counts() {
      const done = redisTimer('counts');
      const live = Date.now() - ttlMs;
      const devices = await redis.zrangebyscore(keys.devices, live, '+inf');
      let series = 0;
      for (let i = 0; i < devices.length; i += SCAN_CHUNK) {
        const chunk = devices.slice(i, i + SCAN_CHUNK);
        const n = await Promise.all(chunk.map((d) => redis.zcount(keys.seriesIndex(d), live, '+inf')));
        series += n.reduce((a, b) => a + b, 0);
      }
      done();
      return { devices: devices.length, series };
    },

    async ping() {
      try {
        return (await redis.ping()) === 'PONG';
      } catch {
        return false;
      }
    },

    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/**
 * One client for standalone Redis or Redis Cluster; every script runs unchanged on both, since all
 * the keys of one call share a hash tag.
 */
function connect(config: Config): Redis | Cluster {
  const scripts = { record: { lua: lua('record') }, tally: { lua: lua('tally'), numberOfKeys: 3 } };
  const connection = {
    keyPrefix: config.keyPrefix,
    // A slow Redis fails the request (503) instead of holding it.
    commandTimeout: config.redisCommandTimeoutMs,
    maxRetriesPerRequest: 1,
    // A command whose reply was lost with the connection may or may not have run: never send it again
    // after the request has been answered 503.
    autoResendUnfulfilledCommands: false,
  };
  const retry = (times: number) => Math.min(times * 100, 500);
  if (config.redisClusterNodes.length > 0) {
    const { username, password } = new URL(config.redisUrl);
    return new Cluster([...config.redisClusterNodes], {
      scripts,
      // Concurrent calls of one tick leave in one write per node. ioredis groups them by their first
      // argument, which for `record` (a variable number of keys) is the key count, not a key: those
      // calls go one by one, each to the node of its device.
      enableAutoPipelining: true,
      autoPipeliningIgnoredCommands: ['record'],
      clusterRetryStrategy: retry,
      redisOptions: {
        ...connection,
        ...(username ? { username: decodeURIComponent(username) } : {}),
        ...(password ? { password: decodeURIComponent(password) } : {}),
      },
    });
  }
  return new Redis(config.redisUrl, {
    ...connection,
    scripts,
    // Concurrent calls of one tick leave in one write: a batch is one round trip.
    enableAutoPipelining: true,
    retryStrategy: retry,
  });
}
