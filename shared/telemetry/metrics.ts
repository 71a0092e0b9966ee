import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { type OutboxMetrics, outboxMetrics } from './outbox-metrics.js';

/** Per metric: values applied, how many of them were flagged, and episodes opened and closed. */
export type Counted = ReadonlyMap<string, { readonly values: number; readonly anomalies: number; readonly opened: number; readonly closed: number }>;

/** Starts timing one store operation; call the result when it is done (no promise added to the hot path). */
export type RedisTimer = (operation: string) => () => void;

/**
 * One registry and every metric of the service on it: what a function counts, serves at /metrics and
 * pushes. A process serves one (processMetrics()); a test builds as many as it has configurations.
 */
export interface Metrics extends OutboxMetrics {
  readonly registry: Registry;
  /** Counts and times one answered request. */
  observeRequest(fn: string, method: string, route: string, status: number, seconds: number): void;
  /** Events the store refused (nothing of them written). */
  countRefused(reason: 'rate_limited' | 'store_full', events: number): void;
  /** Counts what a sender protocol's request carried and the service left out (never an error). */
  countSkipped(protocol: 'influx' | 'otlp', reason: string, values: number): void;
  /** Counts an accepted batch: its size, and the values applied per metric (duplicates and refusals excluded). */
  countBatch(events: number, counted: Counted): void;
  /** Counts one applied event: one value per metric, whether it was flagged, and what it did to its episode. */
  countEvent(metrics: ReadonlyArray<readonly [metric: string, anomaly: boolean, episode: string | null]>): void;
  readonly redisTimer: RedisTimer;
  /** Records the outcome of one push to the Pushgateway. */
  recordPush(ok: boolean): void;
  /** Registers the gauges read from Redis at collection time (see exportFromRedis below); once per registry. */
  exportFromRedis(from: GaugeSource): void;
}

/**
 * A registry with prom-client's default process metrics and every metric of the service, in the order
 * /metrics shows them: each is defined here, once (the dispatcher's in outbox-metrics.ts).
 */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    ...requestMetrics(registry),
    ...valueMetrics(registry),
    ...storeMetrics(registry),
    ...pushMetrics(registry),
    ...outboxMetrics(registry),
    exportFromRedis: (from) => exportFromRedis(registry, from),
  };
}

let processWide: Metrics | undefined;

/** The metrics of this process, made once: every context of a deployed function shares them (one registry per process). */
export function processMetrics(): Metrics {
  processWide ??= createMetrics();
  return processWide;
}

/** The registry of processMetrics(), for code that reads what was counted on the process's metrics. */
export const registry = processMetrics().registry;

function requestMetrics(registry: Registry): Pick<Metrics, 'observeRequest'> {
  const httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by function, method, route and status.',
    labelNames: ['function', 'method', 'route', 'status'] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer an HTTP request, from the function being called to the response being handed to Node.',
    labelNames: ['function', 'route'] as const,
    // Fine below 10 ms so that a p99 under the target can be read.
    buckets: [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  return {
    observeRequest(fn, method, route, status, seconds) {
      httpRequests.inc({ function: fn, method, route, status: String(status) });
      httpDuration.observe({ function: fn, route }, seconds);
    },
  };
}

/** Metric names come from devices: past this many distinct names, the label value is "other". */
const MAX_METRIC_LABELS = 100;

function valueMetrics(registry: Registry): Pick<Metrics, 'countBatch' | 'countEvent'> {
  const counter = (name: string, help: string) => new Counter({ name, help, labelNames: ['metric'] as const, registers: [registry] });
  const processed = counter('metrics_processed_total', 'Metric values applied to their series, by metric.');
  const anomalies = counter('anomaly_detected_total', 'Values flagged as anomalies, by metric.');
  const opened = counter('anomaly_episodes_total', 'Alert episodes opened (at most one alert each), by metric.');
  const closed = counter('anomaly_episodes_closed_total', 'Alert episodes closed after enough usual values, by metric.');
  const batchSize = new Histogram({
    name: 'ingest_batch_size',
    help: 'Events per accepted ingest request (1 for a single event).',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
    registers: [registry],
  });
  const labels = new Set<string>();
  const label = (name: string): string => {
    if (labels.has(name)) return name;
    if (labels.size >= MAX_METRIC_LABELS) return 'other';
    labels.add(name);
    return name;
  };
  const count = (metric: string, c: Counted extends ReadonlyMap<string, infer C> ? C : never) => {
    const l = { metric: label(metric) };
    processed.inc(l, c.values);
    if (c.anomalies > 0) anomalies.inc(l, c.anomalies);
    if (c.opened > 0) opened.inc(l, c.opened);
    if (c.closed > 0) closed.inc(l, c.closed);
  };
  return {
    countBatch(events, counted) {
      batchSize.observe(events);
      for (const [metric, counts] of counted) count(metric, counts);
    },
    countEvent(metrics) {
      batchSize.observe(1);
      for (const [metric, anomaly, episode] of metrics) {
        count(metric, { values: 1, anomalies: anomaly ? 1 : 0, opened: episode === 'opened' ? 1 : 0, closed: episode === 'closed' ? 1 : 0 });
      }
    },
  };
}

function storeMetrics(registry: Registry): Pick<Metrics, 'redisTimer' | 'countRefused' | 'countSkipped'> {
  const redisDuration = new Histogram({
    name: 'redis_operation_duration_seconds',
    help: 'Time of one store operation against Redis (a script call with its round trip, or a read), by operation.',
    labelNames: ['operation'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const eventsRefused = new Counter({
    name: 'events_refused_total',
    help: 'Events refused by the store, by reason: rate_limited (the device is over its limit), store_full (Redis at maxmemory refuses writes).',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const senderSkipped = new Counter({
    name: 'sender_values_skipped_total',
    help: 'What the line protocol and OTLP paths took in but did not store, by protocol and reason: string_field, boolean_field, no_numeric_field (a point of strings and booleans only), baseline (the first point of a cumulative sum), no_recorded_value.',
    labelNames: ['protocol', 'reason'] as const,
    registers: [registry],
  });
  return {
    redisTimer: (operation) => redisDuration.startTimer({ operation }),
    countRefused(reason, events) {
      if (events > 0) eventsRefused.inc({ reason }, events);
    },
    countSkipped(protocol, reason, values) {
      if (values > 0) senderSkipped.inc({ protocol, reason }, values);
    },
  };
}

function pushMetrics(registry: Registry): Pick<Metrics, 'recordPush'> {
  const pushFailures = new Counter({
    name: 'metrics_push_failures_total',
    help: 'Pushes of this registry to the Pushgateway that failed or timed out.',
    registers: [registry],
  });
  const pushLastSuccess = new Gauge({
    name: 'metrics_push_last_success_timestamp_seconds',
    help: 'When this process last pushed its metrics successfully (Unix time).',
    registers: [registry],
  });
  return {
    recordPush(ok) {
      if (ok) pushLastSuccess.set(Date.now() / 1000);
      else pushFailures.inc();
    },
  };
}

type SeriesRow = { metric: string; value: number; avg: number; zscore: number | null };
type Ranked = { device_id: string; anomalies: number };

/**
 * Where the Redis-backed gauges read from: the store, an allow-list of devices, and how many of the
 * devices with the most recent anomalies to add to it (none of either: no per-device gauges).
 */
export interface GaugeSource {
  readonly devices: readonly string[];
  readonly top: number;
  topAnomalousDevices(limit: number): Promise<readonly Ranked[]>;
  series(device: string): Promise<readonly SeriesRow[]>;
  ping(): Promise<boolean>;
  /** used_memory / maxmemory of a Redis that refuses writes when full, 0 without a limit (Store.memoryUse). */
  memoryUse(): Promise<number | undefined>;
}

/**
 * Registers iot_redis_up, iot_redis_memory_used_ratio and the per-device gauges:
 * iot_device_recent_anomalies for the `top` devices with the most recent anomalies, and
 * iot_metric_value, _avg and _zscore for those and the allow-list.
 * They are read from Redis whenever the registry is collected (a scrape of /metrics or a push), so
 * every pod reports the state of truth rather than its own memory, and reset each time, so a device
 * that left the top leaves the gauges. Called once per registry, by the target a process serves; a
 * process that never calls it exports none of them (a default 0 would lie).
 */
function exportFromRedis(registry: Registry, from: GaugeSource): void {
  new Gauge({
    name: 'iot_redis_up',
    help: '1 when this process can reach Redis (PING at collection time), else 0.',
    registers: [registry],
    async collect() {
      this.set((await from.ping()) ? 1 : 0);
    },
  });
  exportMemoryUse(registry, from);
  if (from.devices.length === 0 && from.top === 0) return;

  // One read of Redis per collection, shared by the gauges.
  let reading: Promise<void> | undefined;
  const read = (): Promise<void> => {
    reading ??= readDevices(from)
      .then((snapshot) => showDevices(gauges, snapshot))
      // Redis unreachable: the last values stay; iot_redis_up says why they are stale.
      .catch(() => undefined)
      .finally(() => (reading = undefined));
    return reading;
  };
  const gauge = (name: string, help: string, labelNames: readonly string[]) =>
    new Gauge({ name, help, labelNames, registers: [registry], collect: read });
  const series = ['device', 'metric'];
  const gauges: DeviceGauges = {
    value: gauge('iot_metric_value', 'Last value of a series, read from Redis at collection time.', series),
    avg: gauge('iot_metric_avg', 'Rolling average of a series, read from Redis at collection time.', series),
    zscore: gauge('iot_metric_zscore', 'z-score of the last value of a series, read from Redis; +Inf when its baseline had zero variance.', series),
    recent: from.top > 0
      ? gauge('iot_device_recent_anomalies', 'Anomalies of a device in the recent list over all devices (RECENT_ANOMALIES), for the METRICS_TOP_DEVICES devices with the most; read from Redis at collection time.', ['device'])
      : undefined,
  };
}

/** How close Redis is to refusing writes, so that an alert can fire before it does (docs/operations.md, IotRedisNearlyFull). */
function exportMemoryUse(registry: Registry, from: Pick<GaugeSource, 'memoryUse'>): void {
  new Gauge({
    name: 'iot_redis_memory_used_ratio',
    help: 'used_memory / maxmemory of the fullest Redis (master) that refuses writes when full (noeviction), read at collection time; 0 without maxmemory or when Redis evicts.',
    registers: [registry],
    async collect() {
      const use = await from.memoryUse();
      // Redis unreachable: no sample rather than a stale one (iot_redis_up says why).
      if (use === undefined) this.reset();
      else this.set(use);
    },
  });
}

interface DeviceGauges {
  value: Gauge;
  avg: Gauge;
  zscore: Gauge;
  recent: Gauge | undefined;
}

/** What one collection read from Redis for the per-device gauges. */
interface DeviceSnapshot {
  top: readonly Ranked[];
  series: ReadonlyArray<readonly [device: string, rows: readonly SeriesRow[]]>;
}

/** The top devices first, then the series of the allow-list and of those, each device once. */
async function readDevices(from: GaugeSource): Promise<DeviceSnapshot> {
  const top = from.top > 0 ? await from.topAnomalousDevices(from.top) : [];
  const devices = [...new Set([...from.devices, ...top.map((d) => d.device_id)])];
  const series = await Promise.all(devices.map(async (device) => [device, await from.series(device)] as const));
  return { top, series };
}

function showDevices(gauges: DeviceGauges, { top, series }: DeviceSnapshot): void {
  for (const g of Object.values(gauges)) g?.reset();
  for (const { device_id, anomalies } of top) gauges.recent?.set({ device: device_id }, anomalies);
  for (const [device, rows] of series) {
    for (const s of rows) {
      const labels = { device, metric: s.metric };
      gauges.value.set(labels, s.value);
      gauges.avg.set(labels, s.avg);
      gauges.zscore.set(labels, s.zscore ?? Number.POSITIVE_INFINITY);
    }
  }
}
