// Graded scores, the anomaly likelihood and alert episodes, as a user of the HTTP API sees them.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../functions/api.js';
import { PROFILES } from '../../shared/detector/profiles.js';
import type { DetectorParams } from '../../shared/detector/params.js';
import { replay } from '../../shared/detector/reference.js';
import { keys } from '../../shared/store/keys.js';
import { hoursField } from '../../shared/store/series-state.js';
import { registry } from '../../shared/telemetry/metrics.js';
import { rng } from '../../support/random.js';
import { migrateStore } from '../../scripts/migrate.js';
import { startRedis } from '../../support/servers.js';
import { type TestApp, request, startApp } from '../support/app.js';

/** The infra profile with episodes opened by the likelihood (its own trigger until the baseline method became every profile's). */
const LIKELIHOOD_PROFILE: DetectorParams = { ...PROFILES.infra, episodeTrigger: 'likelihood' };

const counter = async (name: string, metric: string) => (await registry.getSingleMetric(name)!.get()).values.find((v) => v.labels.metric === metric)?.value ?? 0;
const T0 = 1_700_000_000_000;
const at = (i: number) => new Date(T0 + i * 1000).toISOString();

/** Baseline 10, 12, … (mean 11, σ 1), a spike, three usual values, a spike inside the refractory period, one more, a spike. */
const BASELINE = Array.from({ length: 10 }, (_, i) => (i % 2 ? 12 : 10));
const SERIES = [...BASELINE, 20, 11, 11, 11, 40, 11, 50];
// trigger `flag`, K = 3 usual values close an episode, then 2 values of refractory period
const EPISODES = { EPISODE_TRIGGER: 'flag', WINDOW_SIZE: '10', MIN_SAMPLES: '5', EPISODE_CLOSE_AFTER: '3', EPISODE_REFRACTORY: '2' };

const apps: TestApp[] = [];
async function app(env: Record<string, string>): Promise<TestApp> {
  const started = await startApp(apiRoutes, env);
  apps.push(started);
  return started;
}
afterAll(() => Promise.all(apps.map((a) => a.close())));

async function sendOneByOne(url: string, device: string, values: readonly number[], metric = 'cpu') {
  const steps = [];
  for (const [i, value] of values.entries()) {
    const reply = await request(`${url}/ingest`, { body: { device_id: device, timestamp: at(i), [metric]: value } });
    expect(reply.status).toBe(202);
    steps.push(reply.body.metrics[metric]);
  }
  return steps;
}

describe('alert episodes (trigger: the flag)', () => {
  let api: TestApp;
  beforeAll(async () => {
    api = await app(EPISODES);
  });

  it('open on a flag (one alert), close after K usual values, ignore flags in the refractory period', async () => {
    const opened = await counter('anomaly_episodes_total', 'cpu');
    const closed = await counter('anomaly_episodes_closed_total', 'cpu');
    const steps = await sendOneByOne(api.url, 'ep-1', SERIES);
    expect(steps.slice(10).map((s) => [s.anomaly, s.episode])).toEqual([
      [true, 'opened'], [false, 'open'], [false, 'open'], [false, 'closed'],
      [true, null], // flagged, but inside the refractory period: no episode, no alert
      [false, null],
      [true, 'opened'],
    ]);
    expect(steps.slice(0, 10).every((s) => s.episode === null)).toBe(true);
    expect(await counter('anomaly_episodes_total', 'cpu')).toBe(opened + 2);
    expect(await counter('anomaly_episodes_closed_total', 'cpu')).toBe(closed + 1);
  });

  it('list the anomalies and alerts of a batch by index, whichever device they belong to', async () => {
    const baseline = ['order-a', 'order-b'].flatMap((device) => BASELINE.map((cpu, i) => ({ device_id: device, timestamp: at(i), cpu })));
    expect((await request(`${api.url}/batch`, { body: baseline })).status).toBe(202);
    // Applied device by device: 'order-a' (indexes 0, 2) before 'order-b' (1).
    const reply = await request(`${api.url}/batch`, {
      body: [
        { device_id: 'order-a', timestamp: at(10), cpu: 11 },
        { device_id: 'order-b', timestamp: at(10), cpu: 30 },
        { device_id: 'order-a', timestamp: at(11), cpu: 40 },
      ],
    });
    expect(reply.status).toBe(202);
    expect(reply.body.anomalies.map((a: { index: number; device_id: string }) => [a.index, a.device_id])).toEqual([[1, 'order-b'], [2, 'order-a']]);
    expect(reply.body.alerts.map((a: { index: number; device_id: string }) => [a.index, a.device_id])).toEqual([[1, 'order-b'], [2, 'order-a']]);
  });

  it('count the flags and episodes of a batch per metric, as the same values one by one', async () => {
    const rps = await counter('anomaly_detected_total', 'rps');
    const before = await Promise.all(['anomaly_detected_total', 'anomaly_episodes_total', 'anomaly_episodes_closed_total'].map((n) => counter(n, 'cpu')));
    const totals = await api.context.store.totals();
    const body = SERIES.map((cpu, i) => ({ device_id: 'ep-batch', timestamp: at(i), cpu, rps: 1 }));
    const reply = await request(`${api.url}/batch`, { body });
    expect(reply.status).toBe(202);
    expect(reply.body.alerts).toHaveLength(2);
    const after = await Promise.all(['anomaly_detected_total', 'anomaly_episodes_total', 'anomaly_episodes_closed_total'].map((n) => counter(n, 'cpu')));
    // Flags at 20, 40 and 50; episodes opened at 20 and 50, closed after the three 11s.
    expect(after.map((v, i) => v - before[i]!)).toEqual([3, 2, 1]);
    expect(await counter('anomaly_detected_total', 'rps')).toBe(rps);
    // The totals of /stats, by the same counts.
    const now = await api.context.store.totals();
    expect([now.anomalies - totals.anomalies, now.episodes - totals.episodes]).toEqual([3, 2]);
    expect(now.per_metric.cpu!.anomalies - (totals.per_metric.cpu?.anomalies ?? 0)).toBe(3);
    expect(now.per_metric.cpu!.episodes - (totals.per_metric.cpu?.episodes ?? 0)).toBe(2);
  });

  it('keep the episodes, newest first, closed ones complete, in /anomalies and /analyze', async () => {
    const steps = await sendOneByOne(api.url, 'ep-2', SERIES);
    const reply = await request(`${api.url}/anomalies?device=ep-2`);
    expect(reply.status).toBe(200);
    expect(reply.body.recent_episodes).toEqual([
      {
        device_id: 'ep-2', metric: 'cpu', status: 'open', start: at(16), end: null, value: 50, score: steps[16].score,
        likelihood: steps[16].likelihood, detected_at: expect.any(String), peak: null, closed_at: null,
      },
      {
        device_id: 'ep-2', metric: 'cpu', status: 'closed', start: at(10), end: at(10), value: 20, score: steps[10].score,
        likelihood: steps[10].likelihood, detected_at: expect.any(String), peak: { score: steps[10].score, value: 20, at: at(10) },
        closed_at: expect.any(String),
      },
    ]);
    // ?limit= takes the newest: exactly one here.
    expect((await request(`${api.url}/anomalies?device=ep-2&limit=1`)).body.recent_episodes).toEqual([reply.body.recent_episodes[0]]);
    // The same two in the global list (updated by the tally), with the others of this file.
    const global = await request(`${api.url}/anomalies?limit=1000`);
    expect(global.body.recent_episodes.filter((e: { device_id: string }) => e.device_id === 'ep-2')).toEqual(reply.body.recent_episodes);
    expect(global.body.per_metric.cpu.episodes).toBe(global.body.episodes);
    const analyze = await request(`${api.url}/analyze?device=ep-2`);
    expect(analyze.body.series[0]).toMatchObject({ episode: { status: 'open', start: at(16) }, episodes: 2, score: steps[16].score });
    expect(analyze.body).toMatchObject({ detector_profile: 'default', episode_trigger: 'flag', episode_close_after: 3 });
  });

  it('a batch answers the episodes it opened as alerts, by index, as it left them, and takes the same steps as single events', async () => {
    const batch = SERIES.map((cpu, i) => ({ device_id: 'ep-3', timestamp: at(i), cpu }));
    const reply = await request(`${api.url}/ingest/batch`, { body: batch });
    expect(reply.status).toBe(202);
    // The first episode closed again within the batch: its alert shows it as the batch left it.
    expect(reply.body.alerts.map((a: { index: number; status: string; value: number }) => [a.index, a.status, a.value])).toEqual([[10, 'closed', 20], [16, 'open', 50]]);
    expect(reply.body.alerts[0]).toMatchObject({ start: at(10), end: at(10), peak: { at: at(10), value: 20 } });
    expect(reply.body.anomalies.map((a: { index: number }) => a.index)).toEqual([10, 14, 16]);
    const episodes = (await request(`${api.url}/anomalies?device=ep-3`)).body.recent_episodes;
    expect(episodes.map((e: { status: string; start: string }) => [e.status, e.start])).toEqual([['open', at(16)], ['closed', at(10)]]);
  });

  it('a batch of two devices, their events interleaved, lists the alerts of both in the order of the events', async () => {
    // Each device is recorded by a call of its own; the answer still follows the batch.
    const batch = SERIES.flatMap((cpu, i) => ['ep-6', 'ep-7'].map((device_id) => ({ device_id, timestamp: at(i), cpu })));
    const reply = await request(`${api.url}/ingest/batch`, { body: batch });
    expect(reply.status).toBe(202);
    expect(reply.body.alerts.map((a: { index: number; device_id: string }) => [a.index, a.device_id])).toEqual([
      [20, 'ep-6'], [21, 'ep-7'], [32, 'ep-6'], [33, 'ep-7'],
    ]);
  });

  it('score every value in [0, 1], monotone in |z|, 1 against a zero-variance baseline', async () => {
    const steps = await sendOneByOne(api.url, 'ep-4', [...Array(6).fill(5), 5, 6]);
    expect(steps[6]).toMatchObject({ zscore: 0, score: 0 });
    expect(steps[7]).toMatchObject({ zscore: null, score: 1, anomaly: true });
    const noisy = await sendOneByOne(api.url, 'ep-5', Array.from({ length: 40 }, (_, i) => 100 + ((i * 7919) % 13) - 6));
    const scored = noisy.filter((s) => s.zscore !== 0 && s.zscore !== null).slice(5);
    expect(scored.length).toBeGreaterThan(10);
    const byZ = [...scored].sort((a, b) => Math.abs(a.zscore) - Math.abs(b.zscore));
    for (let i = 1; i < byZ.length; i++) expect(byZ[i].score).toBeGreaterThanOrEqual(byZ[i - 1].score);
    expect(scored.every((s) => s.score > 0 && s.score < 1)).toBe(true);
  });
});

describe('the anomaly likelihood (profile infra)', () => {
  it('stays near 0.5 on steady noise, rises on a sustained shift that the flag sees only briefly, and opens one episode for it', async () => {
    const api = await app({ DETECTOR_PROFILE: 'infra', EPISODE_TRIGGER: 'likelihood', LIKELIHOOD_LONG: '200', EPISODE_SCORE: '0', EPISODE_WARMUP: '0' });
    const r = rng(5);
    const values = [...Array.from({ length: 400 }, () => 50 + r.gauss()), ...Array.from({ length: 60 }, () => 53 + r.gauss())];
    const batch = values.map((cpu, i) => ({ device_id: 'lk-1', timestamp: at(i), cpu }));
    const reply = await request(`${api.url}/ingest/batch`, { body: batch });
    expect(reply.status).toBe(202);
    // The flag fires on ~5% of plain noise; the likelihood opens nothing before the shift, and one episode at it.
    expect(reply.body.anomalies.filter((a: { index: number }) => a.index < 400).length).toBeGreaterThan(5);
    expect(reply.body.alerts.map((a: { index: number }) => a.index)).toEqual([expect.any(Number)]);
    expect(reply.body.alerts[0].index).toBeGreaterThanOrEqual(400);
    expect(reply.body.alerts[0].index).toBeLessThan(410);
    expect(reply.body.alerts[0].likelihood).toBeGreaterThanOrEqual(PROFILES.infra.episodeLikelihood);
    // What the service computed is the reference's, value for value.
    const ref = replay(values, { ...LIKELIHOOD_PROFILE, likelihoodLong: 200, episodeScore: 0, episodeWarmup: 0 });
    expect(ref.flatMap((o, i) => (o.episode === 'opened' ? [i] : []))).toEqual([reply.body.alerts[0].index]);
  });

  it('with EPISODE_SCORE, an extreme single value opens an episode by itself', async () => {
    const api = await app({ DETECTOR_PROFILE: 'infra', EPISODE_TRIGGER: 'likelihood', EPISODE_WARMUP: '0' });
    const r = rng(6);
    const values = [...Array.from({ length: 300 }, () => 50 + r.gauss()), 80, ...Array.from({ length: 30 }, () => 50 + r.gauss())];
    const reply = await request(`${api.url}/ingest/batch`, { body: values.map((cpu, i) => ({ device_id: 'lk-2', timestamp: at(i), cpu })) });
    expect(reply.body.alerts.map((a: { index: number; score: number }) => [a.index, a.score])).toEqual([[300, 1]]);
  });
});

describe('while the likelihood learns (EPISODE_WARMUP)', () => {
  // Baseline 10, 12, … (mean 11, σ 1); a value of 15 (z = 4) is flagged. The infra profile scores from
  // the 30th value on; with a long span of 10,000 the likelihood is learning (0.5) all along here.
  const LEARNING = { DETECTOR_PROFILE: 'infra', EPISODE_TRIGGER: 'likelihood', LIKELIHOOD_LONG: '10000', EPISODE_SCORE: '0', EPISODE_WARMUP: '50' };
  const values = Array.from({ length: 200 }, (_, i) => (i === 40 || i === 150 ? 15 : i % 2 ? 12 : 10));
  const alertsOf = async (env: Record<string, string>, device: string) => {
    const reply = await request(`${(await app(env)).url}/ingest/batch`, { body: values.map((cpu, i) => ({ device_id: device, timestamp: at(i), cpu })) });
    expect(reply.status).toBe(202);
    expect(reply.body.anomalies.map((a: { index: number }) => a.index)).toEqual([40, 150]);
    return reply.body.alerts.map((a: { index: number; likelihood: number }) => [a.index, a.likelihood]);
  };

  it('the flag opens an episode during the first EPISODE_WARMUP scored values, and not after them', async () => {
    // index 40 is the 11th scored value, index 150 the 121st
    expect(await alertsOf(LEARNING, 'warm-1')).toEqual([[40, 0.5]]);
    const ref = replay(values, { ...LIKELIHOOD_PROFILE, likelihoodLong: 10_000, episodeScore: 0, episodeWarmup: 50 });
    expect(ref.flatMap((o, i) => (o.episode === 'opened' ? [i] : []))).toEqual([40]);
  });

  it('counts the value that ends the warm-up in it, and opens nothing with EPISODE_WARMUP=0', async () => {
    expect(await alertsOf({ ...LEARNING, EPISODE_WARMUP: '11' }, 'warm-2')).toEqual([[40, 0.5]]);
    expect(await alertsOf({ ...LEARNING, EPISODE_WARMUP: '10' }, 'warm-3')).toEqual([]);
    expect(await alertsOf({ ...LEARNING, EPISODE_WARMUP: '0' }, 'warm-4')).toEqual([]);
    expect(await alertsOf({ ...LEARNING, EPISODE_WARMUP: '121' }, 'warm-5')).toEqual([[40, 0.5], [150, 0.5]]);
  });
});

describe('a stuck sensor (EPISODE_FLATLINE)', () => {
  it('opens an episode at the 10th identical value in a row, and never for a series constant from its start', async () => {
    const api = await app({ DETECTOR_PROFILE: 'infra', EPISODE_TRIGGER: 'likelihood', EPISODE_WARMUP: '0' });
    const r = rng(8);
    const noise = Array.from({ length: 100 }, () => Math.round((50 + r.gauss()) * 100) / 100);
    const stuck = [...noise, ...Array(30).fill(noise.at(-1))];
    const reply = await request(`${api.url}/ingest/batch`, {
      body: [...stuck.map((cpu, i) => ({ device_id: 'flat-1', timestamp: at(i), cpu })), ...Array.from({ length: 130 }, (_, i) => ({ device_id: 'flat-2', timestamp: at(i), cpu: 7 }))],
    });
    expect(reply.status).toBe(202);
    // the run starts at index 99 (the last noisy value): its 10th value is index 108
    expect(reply.body.alerts.map((a: { index: number; device_id: string }) => [a.device_id, a.index])).toEqual([['flat-1', 108]]);
  });
});

describe('the episode lists, capped', () => {
  // One episode per 11 values: against ten equal values an 11 is flagged (zero variance) and opens one,
  // the next value closes it (K = 1), and the window holds only equal values again ten values later.
  const BLOCK = [11, ...Array(10).fill(10)];
  const ids = (redis: Redis, list: string) => redis.lrange(list, 0, -1);
  const fields = async (redis: Redis, hash: string) => (await redis.hkeys(hash)).sort();

  it('keep the newest 100 of a device and RECENT_ANOMALIES over all, each id with its record; a closing of one trimmed away adds nothing back', async () => {
    const api = await app({ ...EPISODES, EPISODE_CLOSE_AFTER: '1', EPISODE_REFRACTORY: '0', RECENT_ANOMALIES: '30', MAX_BATCH: '2000' });
    const redis = new Redis(api.context.config.redisUrl, { keyPrefix: api.context.config.keyPrefix });
    try {
      const device = 'capped';
      // First, an episode of `mem` that stays open: the oldest of the device's.
      const mem = [...Array(10).fill(10), 11].map((v, i) => ({ device_id: device, timestamp: at(i), mem: v }));
      expect((await request(`${api.url}/ingest/batch`, { body: mem })).body.alerts).toHaveLength(1);
      const memId = `${T0 + 10_000}/mem`;
      // Then 105 episodes of `cpu` in one batch: one call pushes 105 ids and trims the 6 oldest at once.
      const cpu = [...Array(10).fill(10), ...Array.from({ length: 105 }, () => BLOCK).flat()];
      const reply = await request(`${api.url}/ingest/batch`, { body: cpu.map((v, i) => ({ device_id: device, timestamp: at(20 + i), cpu: v })) });
      expect(reply.status).toBe(202);
      expect(reply.body.alerts).toHaveLength(105);
      const cpuId = (n: number) => `${T0 + (30 + 11 * n) * 1000}/cpu`;
      const own = await ids(redis, keys.deviceEpisodes(device));
      expect(own).toEqual(Array.from({ length: 100 }, (_, n) => cpuId(104 - n)));
      expect(await fields(redis, keys.deviceEpisodeRecords(device))).toEqual([...own].sort());
      const global = await ids(redis, keys.episodes);
      expect(global).toEqual(own.slice(0, 30).map((id) => `${device}/${id}`));
      expect(await fields(redis, keys.episodeRecords)).toEqual([...global].sort());

      // One more: the device's list drops its oldest, the global one too.
      const more = [...BLOCK].map((v, i) => ({ device_id: device, timestamp: at(20 + cpu.length + i), cpu: v }));
      expect((await request(`${api.url}/ingest/batch`, { body: more })).status).toBe(202);
      expect((await ids(redis, keys.deviceEpisodes(device)))[0]).toBe(`${T0 + (20 + cpu.length) * 1000}/cpu`);
      expect(await redis.llen(keys.deviceEpisodes(device))).toBe(100);
      expect(await redis.hlen(keys.deviceEpisodeRecords(device))).toBe(100);
      expect(await redis.hlen(keys.episodeRecords)).toBe(30);

      // The `mem` episode, trimmed from both lists, closes: its record is not written back.
      const [closed] = await sendOneByOne(api.url, device, [10], 'mem');
      expect(closed).toMatchObject({ episode: 'closed' });
      expect(await redis.hexists(keys.deviceEpisodeRecords(device), memId)).toBe(0);
      expect(await redis.hexists(keys.episodeRecords, `${device}/${memId}`)).toBe(0);
      expect(await redis.hlen(keys.deviceEpisodeRecords(device))).toBe(100);
      expect(await redis.hlen(keys.episodeRecords)).toBe(30);
      // What is kept reads back, newest first, closed with its peak.
      const shown = (await request(`${api.url}/anomalies?device=${device}&limit=2`)).body.recent_episodes;
      expect(shown.map((e: { start: string; status: string; peak: { value: number } }) => [e.start, e.status, e.peak.value])).toEqual([
        [at(20 + cpu.length), 'closed', 11], [at(30 + 11 * 104), 'closed', 11],
      ]);
    } finally {
      redis.disconnect();
    }
  });
});

describe('state kept across versions and profiles', () => {
  // Where versions before the device's state hash kept a series' state (field `state`, and `hours`).
  const oldStateKey = (device: string) => `dev:{${device}}:s:cpu`;

  it('carries on a series stored in layout v1 once npm run migrate has rewritten it: its counts kept, its detection state fresh', async () => {
    const api = await app(EPISODES);
    const redis = new Redis(api.context.config.redisUrl, { keyPrefix: api.context.config.keyPrefix });
    try {
      // A v1 state: 17 doubles (version, n, k, s1, s2, e1, e2, w, count, anomalies, refreshed, last, avg, z, anomaly, ts, updated).
      const v1 = Buffer.alloc(17 * 8);
      [1, 10, 11, 0, 10, 0, 0, 10, 500, 7, Date.now(), 12, 11, 1, 0, T0, Date.now()].forEach((x, i) => v1.writeDoubleLE(x, 8 * i));
      await redis.rpush(keys.window('old', 'cpu'), ...BASELINE.map(String));
      await redis.hset(oldStateKey('old'), 'state', v1);
      await redis.zadd(keys.seriesIndex('old'), Date.now(), 'cpu');
      expect(await migrateStore(redis, api.context.config.keyPrefix)).toEqual({ 'v1 → v6': 1 });
      const before = (await request(`${api.url}/analyze?device=old`)).body.series[0];
      expect(before).toMatchObject({ count: 500, anomalies: 7, score: 0, likelihood: 0.5, episode: null, episodes: 0 });
      const steps = await sendOneByOne(api.url, 'old', [20]);
      expect(steps[0]).toMatchObject({ anomaly: true, episode: 'opened' });
      expect((await request(`${api.url}/analyze?device=old`)).body.series[0]).toMatchObject({ count: 501, anomalies: 8, episodes: 1 });
    } finally {
      redis.disconnect();
    }
  });

  it('carries on a series stored in layout v2 once migrated: its likelihood learns again, its counts and episodes carry on, the warm-up does not re-run', async () => {
    // The infra profile with a likelihood that learns for 20 scored values, and the flag counting for the first 50.
    const api = await app({ DETECTOR_PROFILE: 'infra', EPISODE_TRIGGER: 'likelihood', WINDOW_SIZE: '10', MIN_SAMPLES: '5', LIKELIHOOD_LONG: '200', EPISODE_SCORE: '0', EPISODE_WARMUP: '50' });
    const redis = new Redis(api.context.config.redisUrl, { keyPrefix: api.context.config.keyPrefix });
    try {
      // A v2 state: the window of BASELINE (mean 11, σ 1), 500 values seen, 3 episodes, and a likelihood
      // that has learnt for 5,000 values (sh 0.5, mu 0.1, v 0.01: it would read 1 if kept).
      const v2 = Buffer.alloc(37 * 8);
      const fields = [2, 10, 11, 0, 10, 0, 0, 10, 500, 7, Date.now(), 12, 11, 1, 0, T0, Date.now(), 0.68, 0.9, 0.5, 0.1, 0.01, 5000, 0, 0, 0, 0, 3];
      fields.forEach((x, i) => v2.writeDoubleLE(x, 8 * i));
      v2.writeDoubleLE(1, 36 * 8); // same
      await redis.rpush(keys.window('v2', 'cpu'), ...BASELINE.map(String));
      await redis.hset(oldStateKey('v2'), 'state', v2);
      await redis.zadd(keys.seriesIndex('v2'), Date.now(), 'cpu');
      expect(await migrateStore(redis, api.context.config.keyPrefix)).toEqual({ 'v2 → v6': 1 });
      // 20: flagged (z = 9), but 500 values in, past the warm-up, and the likelihood is learning again (0.5).
      const [step] = await sendOneByOne(api.url, 'v2', [20]);
      expect(step).toMatchObject({ anomaly: true, likelihood: 0.5, episode: null });
      expect((await request(`${api.url}/analyze?device=v2`)).body.series[0]).toMatchObject({ count: 501, anomalies: 8, episodes: 3 });
      // A new series at its sixth value, in its warm-up: the same flag opens an episode.
      const fresh = await sendOneByOne(api.url, 'v2-new', [...BASELINE.slice(0, 5), 20]);
      expect(fresh[5]).toMatchObject({ anomaly: true, episode: 'opened' });
    } finally {
      redis.disconnect();
    }
  });

  it('carries on a series stored in layout v3 with an episode open once migrated, and reads its JSON record: the episode carries on, closes, and is stored packed', async () => {
    const api = await app(EPISODES);
    const redis = new Redis(api.context.config.redisUrl, { keyPrefix: api.context.config.keyPrefix });
    try {
      // A v3 state: the window of BASELINE, 500 values seen, 4 episodes, the fourth open since value 3
      // (opened by 20, calm for 1 value of the K = 3 that close it), as version 3 stored it.
      const start = T0 + 3000;
      const v3 = Buffer.alloc(37 * 8);
      const fields = [
        3, 10, 11, 0, 10, 0, 0, 10, 500, 7, Date.now(), 12, 11, 1, 0, T0 + 9000, Date.now(), 0.68, 0.9, // … likelihood
        0.5, 0.1, 0.01, 5000, // sh, mu, v, lc
        1, start, 1, 0, 4, start, 0.99, 20, start, 20, 0.99, 0.7, T0 + 3500, 1, // ep, start, calm, cool, episodes, last_unusual, peak, peak_value, peak_at, open_value, open_score, open_likelihood, opened_at, same
      ];
      fields.forEach((x, i) => v3.writeDoubleLE(x, 8 * i));
      const id = `${start}/cpu`;
      const json = { device_id: 'v3', metric: 'cpu', start, end: null, value: 20, score: 0.99, likelihood: 0.7, detected_at: T0 + 3500 };
      await redis.rpush(keys.window('v3', 'cpu'), ...BASELINE.map(String));
      await redis.hset(oldStateKey('v3'), 'state', v3);
      await redis.zadd(keys.seriesIndex('v3'), Date.now(), 'cpu');
      await redis.lpush(keys.deviceEpisodes('v3'), id);
      await redis.hset(keys.deviceEpisodeRecords('v3'), id, JSON.stringify(json));
      expect(await migrateStore(redis, api.context.config.keyPrefix)).toEqual({ 'v3 → v6': 1, 'episode record JSON → packed': 1 });

      expect((await request(`${api.url}/analyze?device=v3`)).body.series[0]).toMatchObject({ count: 500, episodes: 4, episode: { status: 'open', start: at(3) } });
      expect((await request(`${api.url}/anomalies?device=v3`)).body.recent_episodes).toEqual([
        { device_id: 'v3', metric: 'cpu', status: 'open', start: at(3), end: null, value: 20, score: 0.99, likelihood: 0.7, detected_at: at(3.5), peak: null, closed_at: null },
      ]);
      // Two usual values: the episode closes (calm 1 + 2 = K), with the peak and start v3 kept.
      const steps = await sendOneByOne(api.url, 'v3', [11, 11]);
      expect(steps.map((s) => s.episode)).toEqual(['open', 'closed']);
      const [record] = (await request(`${api.url}/anomalies?device=v3`)).body.recent_episodes;
      expect(record).toMatchObject({ status: 'closed', start: at(3), end: at(3), value: 20, score: 0.99, likelihood: 0.7, peak: { score: 0.99, value: 20, at: at(3) } });
      expect((await redis.hgetBuffer(keys.deviceEpisodeRecords('v3'), id))!.length).toBe(80);
      expect((await request(`${api.url}/analyze?device=v3`)).body.series[0]).toMatchObject({ count: 502, episodes: 4, episode: null });
      // Written back in layout v6: 39 doubles, the episode's 10 no longer kept once it has closed.
      expect((await redis.hgetBuffer(keys.deviceState('v3'), 'cpu'))!.length).toBe(39 * 8);
    } finally {
      redis.disconnect();
    }
  });

  it('one layout under every trigger: the baseline method starts again when it becomes the trigger, and is emptied under another', async () => {
    const flag = await app({ EPISODE_TRIGGER: 'flag' });
    const prefix = flag.context.config.keyPrefix;
    const baseline = await startApp(apiRoutes, { KEY_PREFIX: prefix });
    apps.push(baseline);
    const redis = new Redis(flag.context.config.redisUrl, { keyPrefix: prefix });
    const r = rng(41);
    const send = async (url: string, from: number, values: number[]) => {
      const reply = await request(`${url}/ingest/batch`, { body: values.map((cpu, i) => ({ device_id: 'v5', timestamp: at(from + i), cpu })) });
      expect(reply.status).toBe(202);
      return reply.body.alerts.map((a: { index: number }) => a.index) as number[];
    };
    const stored = async () => {
      const packed = (await redis.hgetBuffer(keys.deviceState('v5'), 'cpu'))!;
      return { version: packed.readDoubleLE(0), doubles: packed.length / 8, method: packed.readDoubleLE(27 * 8) };
    };
    try {
      await send(flag.url, 0, Array.from({ length: 300 }, () => 10 + r.gauss()));
      expect(await stored()).toMatchObject({ version: 6, method: 0 });
      // Under the baseline trigger the series is new to the method: a spike in its warm-up does not alert, one after it does.
      const values = Array.from({ length: 200 }, () => 10 + r.gauss());
      values[50] = 40;
      values[150] = 40;
      expect(await send(baseline.url, 300, values)).toEqual([150]);
      const v6 = await stored();
      expect(v6).toMatchObject({ version: 6, method: 200 });
      expect([39, 49]).toContain(v6.doubles);
      // The method starts again over a stored state: its hours' block is written empty with the first call.
      expect(await redis.hgetBuffer(keys.deviceState('v5'), hoursField('cpu'))).toEqual(Buffer.alloc(240));
      expect((await request(`${baseline.url}/analyze?device=v5`)).body.series[0]).toMatchObject({ count: 500 });
      await send(flag.url, 500, [10, 11, 10, 11, 10, 11, 10, 11]);
      expect(await stored()).toMatchObject({ version: 6, method: 0 });
      expect([39, 49]).toContain((await stored()).doubles);
      expect((await request(`${flag.url}/analyze?device=v5`)).body.series[0]).toMatchObject({ count: 508 });
    } finally {
      redis.disconnect();
    }
  });

  it("keeps a series' hours of the day apart from its state: the block is read and written once an hour, not once a value", async () => {
    const redis = await startRedis();
    const hour = 3_600_000;
    const hour0 = Math.ceil(T0 / hour) * hour; // an hour of the day that starts on the hour: (hour0 / hour) % 24
    const stats = async (client: Redis) => {
      const info = await client.info('commandstats');
      const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
      return { hget: calls('hget'), hset: calls('hset') };
    };
    const client = new Redis(redis.url);
    try {
      const work: Record<string, { hget: number; hset: number }> = {};
      for (const trigger of ['flag', 'baseline']) {
        const served = await app({ REDIS_URL: redis.url, EPISODE_TRIGGER: trigger });
        const state = keys.deviceState(`h-${trigger}`);
        const send = async (ms: number, cpu: number) => expect((await request(`${served.url}/ingest`, { body: { device_id: `h-${trigger}`, timestamp: new Date(ms).toISOString(), cpu } })).status).toBe(202);
        await send(hour0, 10);
        await client.config('RESETSTAT');
        for (let i = 1; i < 40; i += 1) await send(hour0 + i * 60_000, 10 + (i % 3));
        work[trigger] = await stats(client);
        if (trigger === 'flag') continue;
        // Forty values in one hour: the pending hour holds them; no block yet.
        const prefixed = `${served.context.config.keyPrefix}${state}`;
        expect(await client.hgetBuffer(prefixed, hoursField('cpu'))).toBeNull();
        const packed = (await client.hgetBuffer(prefixed, 'cpu'))!;
        expect(packed.length).toBe(39 * 8);
        const h = (hour0 / hour) % 24;
        expect([packed.readDoubleLE(36 * 8), packed.readDoubleLE(38 * 8)]).toEqual([h, 40]); // the pending hour and its count
        // The next hour: one HGET of the block, one write of it, with the first hour's mean and count in place.
        await client.config('RESETSTAT');
        await send(hour0 + hour, 30);
        expect(await stats(client)).toEqual({ hget: work.flag!.hget / 39 + 1, hset: work.flag!.hset / 39 });
        const block = (await client.hgetBuffer(prefixed, hoursField('cpu')))!;
        expect(block.length).toBe(240);
        const values = [10, ...Array.from({ length: 39 }, (_, i) => 10 + ((i + 1) % 3))];
        expect(block.readDoubleLE(8 * h)).toBeCloseTo(values.reduce((a, b) => a + b) / values.length, 12);
        expect(block.readUInt16LE(192 + 2 * h)).toBe(40);
        expect((await client.hgetBuffer(prefixed, 'cpu'))!.readDoubleLE(36 * 8)).toBe((h + 1) % 24);
      }
      // Within the hour the baseline method reads and writes no more than trigger flag does.
      expect(work.baseline).toEqual(work.flag);
    } finally {
      client.disconnect();
      await redis.stop();
    }
  });

  it('switching DETECTOR_PROFILE on a running store keeps serving: the window rebuilds to the new size', async () => {
    const first = await app({});
    const values = Array.from({ length: 120 }, (_, i) => 10 + (i % 5));
    const prefix = first.context.config.keyPrefix;
    await request(`${first.url}/ingest/batch`, { body: values.map((cpu, i) => ({ device_id: 'sw', timestamp: at(i), cpu })) });
    const second = await startApp(apiRoutes, { DETECTOR_PROFILE: 'infra', EPISODE_TRIGGER: 'likelihood', KEY_PREFIX: prefix });
    apps.push(second);
    const reply = await request(`${second.url}/ingest`, { body: { device_id: 'sw', timestamp: at(120), cpu: 12 } });
    expect(reply.status).toBe(202);
    const series = (await request(`${second.url}/analyze?device=sw`)).body.series[0];
    // The default profile kept 50 values; under infra (W = 200) the window grows from there.
    expect(series).toMatchObject({ count: 121, samples: 51 });
  });

  it('two processes with other settings on one store each apply their own, call after call', async () => {
    const first = await app({});
    const second = await startApp(apiRoutes, { WINDOW_SIZE: '5', MIN_SAMPLES: '3', KEY_PREFIX: first.context.config.keyPrefix });
    apps.push(second);
    for (let i = 0; i < 10; i++) {
      for (const [target, device] of [[first, 'own-50'], [second, 'own-5']] as const) {
        expect((await request(`${target.url}/ingest`, { body: { device_id: device, timestamp: at(i), cpu: 10 + i } })).status).toBe(202);
      }
    }
    expect((await request(`${first.url}/analyze?device=own-50`)).body.series[0]).toMatchObject({ count: 10, samples: 10 });
    expect((await request(`${second.url}/analyze?device=own-5`)).body.series[0]).toMatchObject({ count: 10, samples: 5 });
  });

  it('turning BASELINE_HOUR_SPAN off on a running store keeps serving the series that hold a pending hour', async () => {
    const first = await app({});
    const prefix = first.context.config.keyPrefix;
    const values = Array.from({ length: 30 }, (_, i) => 10 + (i % 5));
    await request(`${first.url}/ingest/batch`, { body: values.map((cpu, i) => ({ device_id: 'hours-off', timestamp: at(i), cpu })) });
    const second = await startApp(apiRoutes, { BASELINE_HOUR_SPAN: '0', KEY_PREFIX: prefix });
    apps.push(second);
    const reply = await request(`${second.url}/ingest/batch`, { body: [{ device_id: 'hours-off', timestamp: at(30), cpu: 12 }] });
    expect(reply.status).toBe(202);
    expect(reply.body).toMatchObject({ accepted: 1 });
    expect((await request(`${second.url}/analyze?device=hours-off`)).body.series[0]).toMatchObject({ count: 31 });
  });
});
