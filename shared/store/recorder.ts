import type { Cluster, Redis } from 'ioredis';
import type { Config } from '../config.js';
import { keys } from './keys.js';
import { redisTimer } from '../telemetry/metrics.js';
import type { Reading } from '../schemas/event.js';

/** Recent anomalies kept per device (the global list is capped by RECENT_ANOMALIES). */
const DEVICE_ANOMALY_CAP = 100;
const PRUNE_EVERY_MS = 60_000;

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

export interface Recorder {
  /** Applies one event; its per-metric results come in the order sent. */
  recordOne(reading: Reading): Promise<EventOutcome>;
  /** Applies a batch and returns what became of every event. */
  recordDetailed(readings: readonly Reading[]): Promise<EventOutcome[]>;
  /** Applies a batch (one script call per device, all in one round trip); returns its anomalies and refusals. */
  recordBatch(readings: readonly Reading[]): Promise<BatchOutcome>;
}

/**
 * The write path: one record script call per device (rate limit, ids, series and anomaly list in one
 * atomic step), the bookkeeping over all devices merged into one tally call per event-loop turn, and
 * the replies turned into typed outcomes.
 */
export function createRecorder(redis: Redis | Cluster, config: Config): Recorder {
  const ttlMs = config.seriesTtlSeconds * 1000;
  let lastPrune = 0;

  interface Group {
    device: string;
    metrics: string[];
    /** Metric name → its number (1-based) in the script call. */
    position: Map<string, number>;
    /** Indexes into `readings` of this device's events, in order. */
    events: number[];
  }

  function groupByDevice(readings: readonly Reading[]): Group[] {
    const groups = new Map<string, Group>();
    readings.forEach((reading, index) => {
      let group = groups.get(reading.deviceId);
      if (!group) {
        group = { device: reading.deviceId, metrics: [], position: new Map(), events: [] };
        groups.set(reading.deviceId, group);
      }
      group.events.push(index);
      for (const [name] of reading.metrics) {
        if (!group.position.has(name)) {
          group.metrics.push(name);
          group.position.set(name, group.metrics.length);
        }
      }
    });
    return [...groups.values()];
  }

  function scriptArgs(group: Group, readings: readonly Reading[], now: number, mode: 'full' | 'anomalies') {
    const { device, metrics, position } = group;
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

  async function recordBatch(readings: readonly Reading[]): Promise<BatchOutcome> {
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
  }

  return {
    async recordOne(reading) {
      return (await recordDetailed([reading]))[0]!;
    },
    recordDetailed,
    recordBatch,
  };
}

/** The script's z text → a JSON-safe number; ±∞ (zero-variance baseline) becomes null. */
function parseZ(text: string | number | null | undefined): number | null {
  const z = Number(text);
  return Number.isFinite(z) ? z : null;
}
