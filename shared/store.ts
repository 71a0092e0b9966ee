import { readFileSync } from 'node:fs';
import { Redis, type Result } from 'ioredis';
import type { Config } from './config.js';
import { keys } from './keys.js';
import type { Reading } from './schemas.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    record(numKeys: number, ...keysAndArgs: Array<string | number>): Result<Array<string | number>, Context>;
  }
}

const RECORD_LUA = readFileSync(new URL('./lua/record.lua', import.meta.url), 'utf8');
/** Recent anomalies kept per device (the global list is capped by RECENT_ANOMALIES). */
const DEVICE_ANOMALY_CAP = 100;
const PRUNE_EVERY_MS = 60_000;
const SCAN_CHUNK = 500;

export interface MetricResult {
  value: number;
  avg: number;
  zscore: number | null;
  anomaly: boolean;
}

export interface AnomalyRecord {
  device_id: string;
  metric: string;
  value: number;
  zscore: number | null;
  avg: number;
  timestamp: string;
  detected_at: string;
}

export interface BatchAnomaly extends AnomalyRecord {
  /** Position of the event in the batch. */
  index: number;
}

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

export interface Store {
  /** Applies one event; returns its per-metric results in the order sent. */
  recordOne(reading: Reading): Promise<MetricResult[]>;
  /** Applies a batch and returns every value's result (per event, per metric in the order sent). */
  recordDetailed(readings: readonly Reading[]): Promise<MetricResult[][]>;
  /** Applies a batch (one script call per device, all in one round trip); returns its anomalies. */
  recordBatch(readings: readonly Reading[]): Promise<BatchAnomaly[]>;
  series(device: string, metric?: string): Promise<SeriesView[]>;
  devices(limit: number): Promise<Array<{ device_id: string; last_seen: string }>>;
  totals(): Promise<Totals>;
  recentAnomalies(limit: number, device?: string): Promise<AnomalyRecord[]>;
  counts(): Promise<{ devices: number; series: number }>;
  ping(): Promise<boolean>;
  readonly redis: Redis;
  close(): Promise<void>;
}

/** Connects to Redis and returns the typed operations of the service; the only module that knows ioredis. */
export function createStore(config: Config): Store {
  const redis = new Redis(config.redisUrl, {
    keyPrefix: config.keyPrefix,
    scripts: { record: { lua: RECORD_LUA } },
    // Concurrent calls of one tick leave in one write (per node on Cluster): a batch is one round trip.
    enableAutoPipelining: true,
    commandTimeout: config.redisCommandTimeoutMs,
    // While Redis is unreachable, a command waits for one reconnection attempt (~100 ms), then fails
    // into a 503 with Retry-After, instead of queueing for ioredis's default 20 attempts.
    maxRetriesPerRequest: 1,
    retryStrategy: (times: number) => Math.min(times * 100, 1000),
  });
  let lastError = '';
  redis.on('error', (error: Error) => {
    if (error.message === lastError) return;
    lastError = error.message;
    console.error(JSON.stringify({ severity: 'WARNING', message: 'redis connection error', error: error.message }));
  });
  redis.on('ready', () => {
    lastError = '';
  });

  const ttlMs = config.seriesTtlSeconds * 1000;
  let lastPrune = 0;

  interface Group {
    device: string;
    metrics: string[];
    /** Indexes into `readings` of this device's events, in order. */
    events: number[];
  }

  function groupByDevice(readings: readonly Reading[]): Group[] {
    const groups = new Map<string, Group & { metricIndex: Map<string, number> }>();
    readings.forEach((reading, index) => {
      let group = groups.get(reading.deviceId);
      if (!group) {
        group = { device: reading.deviceId, metrics: [], events: [], metricIndex: new Map() };
        groups.set(reading.deviceId, group);
      }
      group.events.push(index);
      for (const [name] of reading.metrics) {
        if (!group.metricIndex.has(name)) {
          group.metrics.push(name);
          group.metricIndex.set(name, group.metrics.length);
        }
      }
    });
    return [...groups.values()];
  }

  function scriptArgs(group: Group, readings: readonly Reading[], now: number, mode: 'full' | 'anomalies') {
    const { device, metrics } = group;
    const callKeys: string[] = [keys.seriesIndex(device), keys.counters(device), keys.deviceAnomalies(device)];
    for (const metric of metrics) callKeys.push(keys.window(device, metric), keys.state(device, metric));
    const position = new Map(metrics.map((m, i) => [m, i + 1]));
    const args: Array<string | number> = [
      config.windowSize,
      config.zThreshold,
      config.minSamples,
      config.seriesTtlSeconds,
      DEVICE_ANOMALY_CAP,
      now,
      device,
      mode,
      metrics.length,
      ...metrics,
      group.events.length,
    ];
    for (const index of group.events) {
      const reading = readings[index]!;
      args.push(reading.timestamp, reading.metrics.length);
      for (const [name, value] of reading.metrics) args.push(position.get(name)!, String(value));
    }
    return [callKeys.length, ...callKeys, ...args] as const;
  }

  /**
   * Sends one script call per device, the device index and the event totals in one round trip.
   * If a device's call fails, its share of the totals is taken back and the error is rethrown.
   */
  async function apply(readings: readonly Reading[], mode: 'full' | 'anomalies') {
    const now = Date.now();
    const groups = groupByDevice(readings);
    const perMetric = new Map<string, number>();
    for (const r of readings) for (const [name] of r.metrics) perMetric.set(name, (perMetric.get(name) ?? 0) + 1);

    const calls = groups.map((group) => {
      const [numKeys, ...rest] = scriptArgs(group, readings, now, mode);
      return redis.record(numKeys, ...rest);
    });
    const deviceIndex = redis.zadd(keys.devices, ...groups.flatMap((g) => [now, g.device]));
    const totals = [
      redis.hincrby(keys.totals, 'events', readings.length),
      ...[...perMetric].map(([name, n]) => redis.hincrby(keys.totals, `events:${name}`, n)),
    ];
    if (now - lastPrune > PRUNE_EVERY_MS) {
      lastPrune = now;
      void redis.zremrangebyscore(keys.devices, '-inf', now - ttlMs).catch(() => undefined);
    }
    const settled = await Promise.allSettled([...calls, deviceIndex, ...totals]);
    const failed = settled.findIndex((s) => s.status === 'rejected');
    if (failed >= 0) {
      await takeBackTotals(groups, settled.slice(0, groups.length), readings);
      throw (settled[failed] as PromiseRejectedResult).reason;
    }
    return { now, groups, replies: settled.slice(0, groups.length).map((s) => (s as PromiseFulfilledResult<Array<string | number>>).value) };
  }

  async function takeBackTotals(
    groups: Group[],
    results: PromiseSettledResult<unknown>[],
    readings: readonly Reading[],
  ): Promise<void> {
    const back = new Map<string, number>();
    results.forEach((result, g) => {
      if (result.status === 'fulfilled') return;
      for (const index of groups[g]!.events) {
        back.set('events', (back.get('events') ?? 0) + 1);
        for (const [name] of readings[index]!.metrics) back.set(`events:${name}`, (back.get(`events:${name}`) ?? 0) + 1);
      }
    });
    await Promise.allSettled([...back].map(([field, n]) => redis.hincrby(keys.totals, field, -n)));
  }

  /** Second round trip, only when anomalies were found: global anomaly totals and the recent list. */
  async function publishAnomalies(found: AnomalyRecord[]): Promise<void> {
    if (found.length === 0) return;
    const perMetric = new Map<string, number>();
    for (const a of found) perMetric.set(a.metric, (perMetric.get(a.metric) ?? 0) + 1);
    await Promise.all([
      redis.hincrby(keys.totals, 'anomalies', found.length),
      ...[...perMetric].map(([name, n]) => redis.hincrby(keys.totals, `anomalies:${name}`, n)),
      redis.lpush(keys.anomalies, ...found.map((a) => JSON.stringify(a))),
      redis.ltrim(keys.anomalies, 0, config.recentAnomalies - 1),
    ]);
  }

  function anomalyRecord(reading: Reading, metric: string, value: number, avg: number, zscore: number | null, now: number): AnomalyRecord {
    return {
      device_id: reading.deviceId,
      metric,
      value,
      zscore,
      avg,
      timestamp: new Date(reading.timestamp).toISOString(),
      detected_at: new Date(now).toISOString(),
    };
  }

async function recordDetailed(readings: readonly Reading[]): Promise<MetricResult[][]> {
    const { now, groups, replies } = await apply(readings, 'full');
    const results: MetricResult[][] = new Array(readings.length);
    const found: AnomalyRecord[] = [];
    groups.forEach((group, g) => {
      const reply = replies[g]!;
      let at = 0;
      for (const index of group.events) {
        const reading = readings[index]!;
        results[index] = reading.metrics.map(([name, value]): MetricResult => {
          const result = { value, avg: Number(reply[at]), zscore: parseZ(reply[at + 1]), anomaly: reply[at + 2] === 1 };
          at += 3;
          if (result.anomaly) found.push(anomalyRecord(reading, name, value, result.avg, result.zscore, now));
          return result;
        });
      }
    });
    await publishAnomalies(found);
    return results;
  }

  return {
    redis,

    async recordOne(reading) {
      return (await recordDetailed([reading]))[0]!;
    },

    recordDetailed,

    async recordBatch(readings) {
      const { now, groups, replies } = await apply(readings, 'anomalies');
      const found: BatchAnomaly[] = [];
      groups.forEach((group, g) => {
        const reply = replies[g]!;
        for (let i = 0; i < reply.length; i += 4) {
          const index = group.events[Number(reply[i]) - 1]!;
          const reading = readings[index]!;
          const metric = group.metrics[Number(reply[i + 1]) - 1]!;
          const value = reading.metrics.find(([name]) => name === metric)![1];
          found.push({ index, ...anomalyRecord(reading, metric, value, Number(reply[i + 2]), parseZ(reply[i + 3]), now) });
        }
      });
      found.sort((a, b) => a.index - b.index);
      await publishAnomalies(found.map(({ index: _index, ...record }) => record));
      return found;
    },

    async series(device, metric) {
      const live = Date.now() - ttlMs;
      const metrics = metric
        ? [metric]
        : (await redis.zrangebyscore(keys.seriesIndex(device), live, '+inf')).sort();
      const rows = await Promise.all(
        metrics.map((m) =>
          redis.hmget(keys.state(device, m), 'last', 'avg', 'z', 'anomaly', 'n', 'count', 'anomalies', 'ts', 'updated'),
        ),
      );
      return rows.flatMap((row, i): SeriesView[] => {
        const [last, avg, z, anomaly, n, count, anomalies, ts, updated] = row;
        if (last == null) return [];
        return [
          {
            metric: metrics[i]!,
            value: Number(last),
            avg: Number(avg),
            zscore: parseZ(z),
            anomaly: anomaly === '1',
            samples: Number(n),
            count: Number(count),
            anomalies: Number(anomalies),
            timestamp: new Date(Number(ts)).toISOString(),
            updated_at: new Date(Number(updated)).toISOString(),
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
      const hash = await redis.hgetall(keys.totals);
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
      const live = Date.now() - ttlMs;
      const devices = await redis.zrangebyscore(keys.devices, live, '+inf');
      let series = 0;
      for (let i = 0; i < devices.length; i += SCAN_CHUNK) {
        const chunk = devices.slice(i, i + SCAN_CHUNK);
        const n = await Promise.all(chunk.map((d) => redis.zcount(keys.seriesIndex(d), live, '+inf')));
        series += n.reduce((a, b) => a + b, 0);
      }
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

/** The script's z text → a JSON-safe number; ±∞ (zero-variance baseline) becomes null. */
function parseZ(text: string | number | null | undefined): number | null {
  const z = Number(text);
  return Number.isFinite(z) ? z : null;
}
