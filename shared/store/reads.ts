import { METRIC_NAME } from '../schemas/names.js';
import { apiTime } from '../schemas/time.js';
import type { RedisTimer } from '../telemetry/metrics.js';
import { type AnomalyRecord, type StoredAnomaly, parseDeviceAnomaly, presentAnomaly } from './anomaly-record.js';
import { type EpisodeRecord, parseEpisode, presentEpisode } from './episode-record.js';
import type { Client } from './connection.js';
import { keys } from './keys.js';
import { decodeState } from './series-state.js';
import { totalsShards } from './totals-target.js';

export interface SeriesView {
  metric: string;
  value: number;
  avg: number;
  zscore: number | null;
  anomaly: boolean;
  /** The last value's graded score and the series' anomaly likelihood after it. */
  score: number;
  likelihood: number;
  /** The open alert episode (since when), or null. */
  episode: { status: 'open'; start: string } | null;
  /** Alert episodes opened so far. */
  episodes: number;
  samples: number;
  count: number;
  anomalies: number;
  timestamp: string;
  updated_at: string;
  /** With history: the values of the window the detector holds, oldest first. */
  window?: number[];
}

export interface Totals {
  events: number;
  anomalies: number;
  episodes: number;
  per_metric: Record<string, { events: number; anomalies: number; episodes: number }>;
}

/** A device and how many of the recent anomalies (the global list) are its own. */
export interface DeviceAnomalies {
  device_id: string;
  anomalies: number;
}

export interface Reads {
  /** The series of a device (all its live metrics, or one), as the API shows them; with `history`, each with its window. */
  series(device: string, metric?: string, history?: boolean): Promise<SeriesView[]>;
  /** Devices seen within the TTL, most recent first. */
  devices(limit: number): Promise<Array<{ device_id: string; last_seen: string }>>;
  totals(): Promise<Totals>;
  /** The newest anomalies, over all devices or of one. */
  recentAnomalies(limit: number, device?: string): Promise<AnomalyRecord[]>;
  /** The newest alert episodes (by opening), over all devices or of one. */
  recentEpisodes(limit: number, device?: string): Promise<EpisodeRecord[]>;
  /** The `limit` devices with the most anomalies in the global recent list; ties: the most recent first. */
  topAnomalousDevices(limit: number): Promise<DeviceAnomalies[]>;
  counts(): Promise<{ devices: number; series: number }>;
}

/** The read side of the store: Redis rows turned into the API's views. */
export function createReads(redis: Client, seriesTtlSeconds: number, redisTimer: RedisTimer): Reads {
  const ttlMs = seriesTtlSeconds * 1000;
  return {
    series: (device, metric, history = false) => readSeries(redis, ttlMs, redisTimer, device, metric, history),

    async devices(limit) {
      const flat = await redis.zrevrangebyscore(keys.devices, '+inf', Date.now() - ttlMs, 'WITHSCORES', 'LIMIT', 0, limit);
      const out: Array<{ device_id: string; last_seen: string }> = [];
      for (let i = 0; i < flat.length; i += 2) out.push({ device_id: flat[i]!, last_seen: apiTime(Number(flat[i + 1])) });
      return out;
    },

    async totals() {
      const done = redisTimer('totals');
      const shards = (await totalsShards(redis)).map(keys.totalsShard);
      const hashes = await Promise.all([keys.totals, ...shards].map((key) => redis.hgetall(key)));
      done();
      return totalsView(sumHashes(hashes));
    },

    async recentAnomalies(limit, device) {
      if (!device) return (await redis.lrange(keys.anomalies, 0, limit - 1)).map((text) => presentAnomaly(JSON.parse(text) as StoredAnomaly));
      const list = await redis.lrangeBuffer(keys.deviceAnomalies(device), 0, limit - 1);
      return list.flatMap((raw) => {
        const stored = parseDeviceAnomaly(raw, device);
        return stored ? [presentAnomaly(stored)] : [];
      });
    },

    async recentEpisodes(limit, device) {
      const ids = await redis.lrange(device ? keys.deviceEpisodes(device) : keys.episodes, 0, limit - 1);
      if (ids.length === 0) return [];
      const records = await redis.hmgetBuffer(device ? keys.deviceEpisodeRecords(device) : keys.episodeRecords, ...ids);
      return records.flatMap((raw, i) => {
        const stored = raw && parseEpisode(raw, ids[i]!, device);
        return stored ? [presentEpisode(stored)] : [];
      });
    },

    topAnomalousDevices: (limit) => topAnomalousDevices(redis, limit, redisTimer),

    // Both counts are kept as the data changes (the tally scores each device and series as record.lua
    // refreshes it), so this costs O(log n), not a visit to every device.
    async counts() {
      const done = redisTimer('counts');
      const live = Date.now() - ttlMs;
      const [devices, series] = await Promise.all([redis.zcount(keys.devices, live, '+inf'), redis.zcount(keys.series, live, '+inf')]);
      done();
      return { devices, series };
    },
  };
}

/**
 * The series of a device (all its live metrics, or one) in one round trip: the state hash holds each
 * series' refresh time, so a state refreshed longer than the TTL ago is one that expired (its fields wait
 * for the index's clean-up); with `history`, the windows in a second.
 */
async function readSeries(redis: Client, ttlMs: number, redisTimer: RedisTimer, device: string, metric: string | undefined, history: boolean) {
  const done = redisTimer('series');
  const aliveSince = Date.now() - ttlMs;
  const key = keys.deviceState(device);
  const rows: Array<[string, Buffer | null]> = metric
    ? [[metric, await redis.hgetBuffer(key, metric)]]
    : // The states (named by their metric), not the hours (`<metric>:h`), by name.
      Object.entries(await redis.hgetallBuffer(key)).filter(([field]) => METRIC_NAME.test(field)).sort(([a], [b]) => (a < b ? -1 : 1));
  const views = rows.flatMap(([name, packed]) => seriesView(name, packed, aliveSince));
  // The last `samples` values of the list: what the detector holds (the list can be longer for a
  // moment after WINDOW_SIZE was lowered, until the next write trims it).
  if (history) {
    const windows = await Promise.all(views.map((v) => (v.samples > 0 ? redis.lrange(keys.window(device, v.metric), -v.samples, -1) : [])));
    views.forEach((view, i) => (view.window = windows[i]!.map(Number)));
  }
  done();
  return views;
}

/**
 * Counted at read time from the list tally.lua already keeps (trimmed to RECENT_ANOMALIES ≤ 10,000
 * records at every write), so the write path pays nothing: one LRANGE of one key, on Cluster too.
 */
async function topAnomalousDevices(redis: Client, limit: number, redisTimer: RedisTimer): Promise<DeviceAnomalies[]> {
  if (limit <= 0) return [];
  const done = redisTimer('top_devices');
  const list = await redis.lrange(keys.anomalies, 0, -1);
  done();
  return rankDevices(list.map((text) => (JSON.parse(text) as StoredAnomaly).device_id), limit);
}

/** Devices by how often they occur in `newestFirst`; a Map keeps first (most recent) sight, the sort is stable. */
function rankDevices(newestFirst: readonly string[], limit: number): DeviceAnomalies[] {
  const counts = new Map<string, number>();
  for (const device of newestFirst) counts.set(device, (counts.get(device) ?? 0) + 1);
  return [...counts]
    .sort(([, a], [, b]) => b - a)
    .slice(0, limit)
    .map(([device_id, anomalies]) => ({ device_id, anomalies }));
}

function seriesView(metric: string, packed: Buffer | null, aliveSince: number): SeriesView[] {
  const state = decodeState(packed);
  if (!state || state.refreshed < aliveSince) return [];
  return [
    {
      metric,
      value: state.last,
      avg: state.avg,
      zscore: Number.isFinite(state.z) ? state.z : null,
      anomaly: state.anomaly === 1,
      score: state.score,
      likelihood: state.likelihood,
      episode: state.ep === 1 ? { status: 'open', start: apiTime(state.start) } : null,
      episodes: state.episodes,
      samples: state.n,
      count: state.count,
      anomalies: state.anomalies,
      timestamp: apiTime(state.ts),
      updated_at: apiTime(state.updated),
    },
  ];
}

/** Field by field sums of counter hashes (the global totals and, on Redis Cluster, its shards). */
function sumHashes(hashes: ReadonlyArray<Record<string, string>>): Record<string, string> {
  if (hashes.length === 1) return hashes[0]!;
  const sums = new Map<string, number>();
  for (const hash of hashes) for (const [field, n] of Object.entries(hash)) sums.set(field, (sums.get(field) ?? 0) + Number(n));
  return Object.fromEntries([...sums].map(([field, n]) => [field, String(n)]));
}

function totalsView(hash: Record<string, string>): Totals {
  // A Map, not an object: "constructor" is a valid metric name.
  const perMetric = new Map<string, { events: number; anomalies: number; episodes: number }>();
  for (const [field, raw] of Object.entries(hash)) {
    const [kind, metric] = field.split(':') as [string, string | undefined];
    if (!metric || (kind !== 'events' && kind !== 'anomalies' && kind !== 'episodes')) continue;
    const entry = perMetric.get(metric) ?? { events: 0, anomalies: 0, episodes: 0 };
    entry[kind] = Number(raw);
    perMetric.set(metric, entry);
  }
  // Earlier versions counted events before applying them and took back those refused: a metric can
  // have only zero fields left.
  const kept = [...perMetric].filter(([, v]) => v.events !== 0 || v.anomalies !== 0);
  const per_metric = Object.fromEntries(kept.sort(([a], [b]) => (a < b ? -1 : 1)));
  return { events: Number(hash.events ?? 0), anomalies: Number(hash.anomalies ?? 0), episodes: Number(hash.episodes ?? 0), per_metric };
}
