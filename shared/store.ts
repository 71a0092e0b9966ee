import { readFileSync } from 'node:fs';
import { Cluster, Redis, type Result } from 'ioredis';
import type { Config } from './config.js';
import { keys } from './keys.js';
import { redisTimer } from './metrics.js';
import type { Reading } from './schemas.js';
import { STATE_FIELD, decodeState } from './series-state.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    record(numKeys: number, ...keysAndArgs: Array<string | number>): Result<Array<string | number>, Context>;
    tally(...keysAndArgs: Array<string | number>): Result<null, Context>;
  }
}

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
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

/** What became of one event: applied (with its per-metric results), a duplicate of one applied before, or refused by the device's rate limit. */
export type EventOutcome =
  | { status: 'applied'; metrics: MetricResult[] }
  | { status: 'duplicate' }
  | { status: 'rate_limited'; retryAfterMs: number };

export interface BatchOutcome {
  /** Events applied now. */
  applied: number;
  anomalies: BatchAnomaly[];
  /** Positions of events applied before (same device and id). */
  duplicates: number[];
  /** Positions of events refused by their device's rate limit, and when to retry. */
  rateLimited: Array<{ index: number; retryAfterMs: number }>;
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
  /** Applies one event; its per-metric results come in the order sent. */
  recordOne(reading: Reading): Promise<EventOutcome>;
  /** Applies a batch and returns what became of every event. */
  recordDetailed(readings: readonly Reading[]): Promise<EventOutcome[]>;
  /** Applies a batch (one script call per device, all in one round trip); returns its anomalies and refusals. */
  recordBatch(readings: readonly Reading[]): Promise<BatchOutcome>;
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
    const args: Array<string | number> = [
      4 + 2 * metrics.length,
      keys.seriesIndex(device),
      keys.deviceAnomalies(device),
      keys.eventIds(device),
      keys.rateBucket(device),
    ];
    for (const metric of metrics) args.push(keys.window(device, metric), keys.state(device, metric));
    args.push(
      config.windowSize,
      config.zThreshold,
      config.minSamples,
      config.seriesTtlSeconds,
      DEVICE_ANOMALY_CAP,
      now,
      device,
      mode,
      config.idempotencyTtlSeconds,
      config.rateLimitPerDevice,
      config.rateLimitBurst,
      metrics.length,
    );
    for (const metric of metrics) args.push(metric);
    args.push(group.events.length);
    const position = new Map(metrics.map((m, i) => [m, i + 1]));
    for (const index of group.events) {
      const reading = readings[index]!;
      args.push(reading.timestamp, reading.id ?? '', reading.metrics.length);
      for (const [name, value] of reading.metrics) args.push(position.get(name)!, String(value));
    }
    return args as [number, ...Array<string | number>];
  }

  /** Sends one tally call: device index, totals and recent anomalies, over all devices. */
  function sendTally(devices: Iterable<string>, increments: Map<string, number>, anomalies: readonly AnomalyRecord[]) {
    const list = [...devices];
    const args: Array<string | number> = [keys.devices, keys.totals, keys.anomalies, Date.now(), config.recentAnomalies, list.length, ...list];
    args.push(increments.size);
    for (const [field, n] of increments) args.push(field, n);
    for (const a of anomalies) args.push(JSON.stringify(a));
    return redis.tally(...args);
  }

  interface PendingTally {
    devices: Set<string>;
    increments: Map<string, number>;
    anomalies: AnomalyRecord[];
    done: Promise<unknown>;
  }
  let pending: PendingTally | undefined;

  /**
   * The bookkeeping of a request, merged with that of the other requests of this turn of the event loop
   * into one tally call (one Redis command per turn instead of one per request). Resolves once stored.
   */
  function tally(devices: Iterable<string>, increments: Map<string, number>, anomalies: readonly AnomalyRecord[] = []) {
    if (!pending) {
      const batch: PendingTally = { devices: new Set(), increments: new Map(), anomalies: [], done: Promise.resolve() };
      batch.done = new Promise((resolve) => setImmediate(resolve)).then(() => {
        pending = undefined;
        return sendTally(batch.devices, batch.increments, batch.anomalies);
      });
      pending = batch;
    }
    for (const device of devices) pending.devices.add(device);
    for (const [field, n] of increments) pending.increments.set(field, (pending.increments.get(field) ?? 0) + n);
    pending.anomalies.push(...anomalies);
    return pending.done;
  }

  function eventIncrements(readings: readonly Reading[], indexes: Iterable<number>, sign: 1 | -1): Map<string, number> {
    const increments = new Map<string, number>([['events', 0]]);
    for (const index of indexes) {
      increments.set('events', increments.get('events')! + sign);
      for (const [name] of readings[index]!.metrics) {
        const field = `events:${name}`;
        increments.set(field, (increments.get(field) ?? 0) + sign);
      }
    }
    return increments;
  }

  /**
   * Sends one script call per device and the tally of the request in one round trip. If a device's
   * call fails, its share of the totals is taken back and the error is rethrown.
   */
  async function apply(readings: readonly Reading[], mode: 'full' | 'anomalies') {
    const now = Date.now();
    const groups = groupByDevice(readings);
    const calls = groups.map((group) => redis.record(...scriptArgs(group, readings, now, mode)));
    const bookkeeping = tally(groups.map((g) => g.device), eventIncrements(readings, readings.keys(), 1));
    if (now - lastPrune > PRUNE_EVERY_MS) {
      lastPrune = now;
      void redis.zremrangebyscore(keys.devices, '-inf', now - ttlMs).catch(() => undefined);
    }
    const done = redisTimer(mode === 'full' ? 'record' : 'record_batch');
    let replies: Array<Array<string | number>>;
    try {
      // The common case in one await; on failure, find out which devices' calls were lost.
      replies = await Promise.all(calls);
      done();
    } catch (error) {
      const settled = await Promise.allSettled(calls);
      const lost = groups.flatMap((g, i) => (settled[i]!.status === 'rejected' ? g.events : []));
      if (await bookkeeping.then(() => true, () => false)) {
        await tally([], eventIncrements(readings, lost, -1)).catch(() => undefined);
      }
      throw error;
    }
    const results = groups.map((group, i) => decodeReply(group, replies[i]!));
    // Events not applied (duplicates, rate-limited devices) were counted in advance: take them back.
    const notApplied = groups.flatMap((g, i) => (results[i]!.limitedMs !== undefined ? g.events : [...results[i]!.duplicates]));
    await Promise.all([
      bookkeeping.catch(tallyFailed),
      notApplied.length > 0 ? tally([], eventIncrements(readings, notApplied, -1)).catch(tallyFailed) : undefined,
    ]);
    return { now, groups, results };
  }

  interface GroupResult {
    /** The values applied, after the reply's header. */
    data: Array<string | number>;
    /** Positions in the request of the group's duplicate events. */
    duplicates: Set<number>;
    /** Set when the device's rate limit refused the whole group. */
    limitedMs?: number;
  }

  /** The script's reply: {"limited", ms} or {"ok", D, D event numbers, data...}. */
  function decodeReply(group: Group, reply: Array<string | number>): GroupResult {
    if (reply[0] === 'limited') return { data: [], duplicates: new Set(), limitedMs: Number(reply[1]) };
    const count = Number(reply[1]);
    const duplicates = new Set(reply.slice(2, 2 + count).map((n) => group.events[Number(n) - 1]!));
    return { data: reply.slice(2 + count), duplicates };
  }


  // The events are applied: refusing them would invite a retry that applies them twice.
  function tallyFailed(error: unknown): void {
    console.error(JSON.stringify({ severity: 'WARNING', message: 'tally failed; totals undercount', error: String(error) }));
  }


  /** Second round trip, only when anomalies were found: anomaly totals and the recent list. */
  async function publishAnomalies(found: AnomalyRecord[]): Promise<void> {
    const increments = new Map<string, number>([['anomalies', found.length]]);
    for (const a of found) increments.set(`anomalies:${a.metric}`, (increments.get(`anomalies:${a.metric}`) ?? 0) + 1);
    await tally([], increments, found);
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

  async function recordDetailed(readings: readonly Reading[]): Promise<EventOutcome[]> {
    const { now, groups, results } = await apply(readings, 'full');
    const outcomes: EventOutcome[] = new Array(readings.length);
    const found: AnomalyRecord[] = [];
    groups.forEach((group, g) => {
      const { data, duplicates, limitedMs } = results[g]!;
      let at = 0;
      for (const index of group.events) {
        if (limitedMs !== undefined) outcomes[index] = { status: 'rate_limited', retryAfterMs: limitedMs };
        else if (duplicates.has(index)) outcomes[index] = { status: 'duplicate' };
        else {
          const reading = readings[index]!;
          const metrics = reading.metrics.map(([name, value]): MetricResult => {
            const result = { value, avg: Number(data[at]), zscore: parseZ(data[at + 1]), anomaly: data[at + 2] === 1 };
            at += 3;
            if (result.anomaly) found.push(anomalyRecord(reading, name, value, result.avg, result.zscore, now));
            return result;
          });
          outcomes[index] = { status: 'applied', metrics };
        }
      }
    });
    if (found.length > 0) await publishAnomalies(found);
    return outcomes;
  }

  return {
    redis,

    async recordOne(reading) {
      return (await recordDetailed([reading]))[0]!;
    },

    recordDetailed,

    async recordBatch(readings) {
      const { now, groups, results } = await apply(readings, 'anomalies');
      const outcome: BatchOutcome = { applied: readings.length, anomalies: [], duplicates: [], rateLimited: [] };
      groups.forEach((group, g) => {
        const { data, duplicates, limitedMs } = results[g]!;
        if (limitedMs !== undefined) {
          for (const index of group.events) outcome.rateLimited.push({ index, retryAfterMs: limitedMs });
          return;
        }
        outcome.duplicates.push(...duplicates);
        for (let i = 0; i < data.length; i += 4) {
          const index = group.events[Number(data[i]) - 1]!;
          const reading = readings[index]!;
          const metric = group.metrics[Number(data[i + 1]) - 1]!;
          const value = reading.metrics.find(([name]) => name === metric)![1];
          outcome.anomalies.push({ index, ...anomalyRecord(reading, metric, value, Number(data[i + 2]), parseZ(data[i + 3]), now) });
        }
      });
      outcome.applied -= outcome.duplicates.length + outcome.rateLimited.length;
      outcome.anomalies.sort((a, b) => a.index - b.index);
      outcome.duplicates.sort((a, b) => a - b);
      outcome.rateLimited.sort((a, b) => a.index - b.index);
      if (outcome.anomalies.length > 0) await publishAnomalies(outcome.anomalies.map(({ index: _index, ...record }) => record));
      return outcome;
    },

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

/** The script's z text → a JSON-safe number; ±∞ (zero-variance baseline) becomes null. */
function parseZ(text: string | number | null | undefined): number | null {
  const z = Number(text);
  return Number.isFinite(z) ? z : null;
}
