// npm run migrate: a store written by an earlier version (series state layouts v1 to v6 in a key per
// series, episode records in JSON) rewritten in the one layout the service reads (v6 in the device's
// state hash, packed records); what the service does with a state it does not read.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../functions/api.js';
import { keys } from '../../shared/store/keys.js';
import { packDeviceAnomaly, parseDeviceAnomaly } from '../../shared/store/anomaly-record.js';
import { parseEpisode } from '../../shared/store/episode-record.js';
import { decodeState, hoursField } from '../../shared/store/series-state.js';
import { anomalyOfJson, packEpisode, rewrite } from '../../scripts/migrate-layouts.js';
import { migrateStore } from '../../scripts/migrate.js';
import { type TestApp, request, startApp } from '../support/app.js';

const packed = (...doubles: number[]) => {
  const buffer = Buffer.alloc(8 * doubles.length);
  doubles.forEach((d, i) => buffer.writeDoubleLE(d, 8 * i));
  return buffer;
};
// version, n, k, s1, s2, e1, e2, w, count, anomalies, refreshed, last, sh, mu, v, lc, same, ep, cool,
// episodes, avg, z, bits, ts, updated, d, variance (layouts v4 to v6 share these 27)
const series = (version: number, ep = 0) => [version, 10, 11, 0, 10, 0, 0, 50, 500, 7, 1000, 12, 0.5, 0.1, 0.01, 200, 1, ep, 0, 3, 11, 2.5, 3, 5000, 6000, 0.2, 0.04];
const episode = [777, 1, 778, 0.9, 20, 779, 19, 0.8, 0.6, 780];
const rewritten = (state: Buffer) => {
  const out = rewrite(state);
  if (out === undefined || out === 'current') throw new Error(`not rewritten: ${String(out)}`);
  return out;
};

describe('the layouts of earlier versions, rewritten', () => {
  it('v4, with and without an open episode: the same fields, the baseline method empty (no pending hour)', () => {
    const closed = rewritten(packed(...series(4)));
    expect(closed.from).toBe('v4');
    expect(decodeState(closed.state)).toMatchObject({ ...decodeState(packed(6, ...series(4).slice(1), ...Array(12).fill(0))), version: 6 });
    expect(closed.state.readDoubleLE(8 * 36)).toBe(-1);
    const open = decodeState(rewritten(packed(...series(4, 1), ...episode)).state)!;
    expect(open).toMatchObject({ ep: 1, start: 777, peak_value: 20, opened_at: 780, count: 500, avg: 11 });
  });

  it('v5 with its hours inline (84 doubles): the 9 numbers carried, the hours moved to their own field, counts as 16-bit', () => {
    const means = Array.from({ length: 24 }, (_, h) => 10 + h / 4);
    const counts = Array.from({ length: 24 }, (_, h) => h * 3);
    const out = rewritten(packed(...series(5), 40, 11, 0.1, 2, 0.3, 0, 12, 1, 0.05, ...means, ...counts));
    expect(out.from).toBe('v5 (hours inline)');
    expect(out.state.length).toBe(39 * 8);
    expect(Array.from({ length: 12 }, (_, i) => out.state.readDoubleLE(8 * (27 + i)))).toEqual([40, 11, 0.1, 2, 0.3, 0, 12, 1, 0.05, -1, 0, 0]);
    expect(Array.from({ length: 24 }, (_, h) => out.hours!.readDoubleLE(8 * h))).toEqual(means);
    expect(Array.from({ length: 24 }, (_, h) => out.hours!.readUInt16LE(192 + 2 * h))).toEqual(counts);
  });

  it('v5 of 39 doubles: the version alone changes', () => {
    const method = [40, 11, 0.1, 2, 0.3, 0, 12, 1, 0.05, 13, 11.5, 40];
    const out = rewritten(packed(...series(5, 1), ...method, ...episode));
    expect(out.state).toEqual(packed(...series(6, 1), ...method, ...episode));
    expect(out.hours).toBeUndefined();
  });

  it('v3, v2 and v1: their fields where v6 keeps them; v2 and v1 start the likelihood again; the likelihood reads 0.5 until the next value', () => {
    // version, n, k, s1, s2, e1, e2, w, count, anomalies, refreshed, last, avg, z, anomaly, ts, updated, score, likelihood,
    // sh, mu, v, lc, ep, start, calm, cool, episodes, last_unusual, peak, peak_value, peak_at, open_value, open_score, open_likelihood, opened_at, same
    const v3 = (version: number) => packed(version, 10, 11, 0, 10, 0, 0, 50, 500, 7, 1000, 12, 11, 2.5, 1, 5000, 6000, 0.9, 0.99, 0.5, 0.1, 0.01, 200, 1, 777, 1, 0, 3, 778, 0.9, 20, 779, 19, 0.8, 0.6, 780, 4);
    expect(decodeState(rewritten(v3(3)).state)).toMatchObject({ version: 6, count: 500, last: 12, avg: 11, z: 2.5, anomaly: 1, ts: 5000, sh: 0.5, lc: 200, ep: 1, start: 777, opened_at: 780, episodes: 3, same: 4, likelihood: 0.5 });
    expect(decodeState(rewritten(v3(2)).state)).toMatchObject({ sh: 0, mu: 0, v: 0, lc: 0, count: 500, ep: 1 });
    const v1 = decodeState(rewritten(packed(1, 10, 11, 0, 10, 0, 0, 50, 500, 7, 1000, 12, 11, 2.5, 1, 5000, 6000)).state);
    expect(v1).toMatchObject({ version: 6, count: 500, anomalies: 7, avg: 11, anomaly: 1, sh: 0, lc: 0, ep: 0, episodes: 0 });
  });

  it('episode records in JSON, open and closed, packed as the service reads them; other text left', () => {
    const opened = { device_id: 'd', metric: 'cpu', start: 1000, end: null, value: 20, score: 0.99, likelihood: 0.7, detected_at: 1500 };
    expect(parseEpisode(packEpisode(Buffer.from(JSON.stringify(opened)))!, '1000/cpu', 'd')).toEqual(opened);
    const closed = { ...opened, end: 4000, peak_score: 0.999, peak_value: 25, peak_at: 3000, closed_at: 5000 };
    expect(parseEpisode(packEpisode(Buffer.from(JSON.stringify(closed)))!, 'd/1000/cpu')).toEqual(closed);
    for (const text of ['not json', '{"start": 1}', '[]']) expect(packEpisode(Buffer.from(text))).toBeUndefined();
    expect(parseEpisode(Buffer.from(JSON.stringify(closed)), 'd/1000/cpu')).toBeUndefined();
  });

  it("a device's anomaly records: packed and read back field for field (an infinite z reads null); JSON is another form", () => {
    const stored = { device_id: 'd', metric: 'cpu_temp', value: 0.1 + 0.2, zscore: -3.25, avg: 1 / 3, timestamp: 1_700_000_000_123, detected_at: 1_700_000_000_456 };
    expect(parseDeviceAnomaly(packDeviceAnomaly(stored), 'd')).toEqual(stored);
    expect(parseDeviceAnomaly(packDeviceAnomaly({ ...stored, zscore: null }), 'd')).toEqual({ ...stored, zscore: null });
    expect(parseDeviceAnomaly(Buffer.from(JSON.stringify(stored)), 'd')).toBeUndefined();
    expect(anomalyOfJson(Buffer.from(JSON.stringify(stored)))).toEqual(stored);
    for (const text of ['not json', '{"metric": "cpu"}', JSON.stringify({ ...stored, metric: 'CPU' })]) expect(anomalyOfJson(Buffer.from(text))).toBeUndefined();
  });

  it('leaves what no layout of ours reads, and calls v6 current', () => {
    expect(rewrite(packed(...series(6), ...Array(12).fill(0)))).toBe('current');
    for (const state of [packed(4, 1, 2), packed(7, ...series(4).slice(1)), packed(5, ...series(5).slice(1)), Buffer.from('cpu'), Buffer.alloc(0)]) {
      expect(rewrite(state)).toBeUndefined();
    }
  });
});

describe('npm run migrate on a store', () => {
  const apps: TestApp[] = [];
  afterAll(() => Promise.all(apps.map((a) => a.close())));
  const at = (i: number) => new Date(1_700_000_000_000 + i * 1000).toISOString();
  /** Runs `test` against a served app of its own and a client under its key prefix. */
  const withStore = async (test: (served: TestApp, redis: Redis, keyPrefix: string) => Promise<void>) => {
    const served = await startApp(apiRoutes);
    apps.push(served);
    const { keyPrefix, redisUrl } = served.context.config;
    const redis = new Redis(redisUrl, { keyPrefix });
    try {
      await test(served, redis, keyPrefix);
    } finally {
      redis.disconnect();
    }
  };

  it('moves the series an earlier build left into their device hashes, rewriting v4, keeping counts, hours and expiry; the service then carries them on; a second run finds nothing to move', () =>
    withStore(async (served, redis, keyPrefix) => {
      const send = (device: string, from: number, values: number[]) =>
        request(`${served.url}/ingest/batch`, { body: values.map((cpu, i) => ({ device_id: device, timestamp: at(from + i), cpu })) });
      const values = Array.from({ length: 60 }, (_, i) => 10 + (i % 7));
      const hours = Buffer.alloc(240, 7);
      for (const device of ['old', 'other', 'current']) expect((await send(device, 0, values)).status).toBe(202);
      // As earlier builds left them: a key per series, `dev:{d}:s:<metric>` (field state, and hours), expiring
      // as the series does; v4 keeps the first 27 doubles, version 4.
      for (const device of ['old', 'other', 'current']) {
        const v6 = (await redis.hgetBuffer(keys.deviceState(device), 'cpu'))!;
        const ttl = await redis.pttl(keys.deviceState(device));
        const v4 = Buffer.from(v6.subarray(0, 27 * 8));
        v4.writeDoubleLE(4, 0);
        const old = `dev:{${device}}:s:cpu`;
        await redis.hset(old, 'state', device === 'current' ? v6 : v4, ...(device === 'current' ? ['hours', hours] : []));
        await redis.pexpire(old, ttl);
        await redis.del(keys.deviceState(device));
      }
      await redis.hset('dev:{junk}:s:cpu', 'state', 'not a state');
      const before = await redis.ttl('dev:{old}:s:cpu');
      expect(before).toBeGreaterThan(0);
      const report = await migrateStore(redis, keyPrefix);
      expect(report).toEqual({ 'v4 → v6': 2, "v6 (moved to the device's state hash)": 1, 'unknown (left; rebuilt from its window on its next write)': 1 });
      expect(await redis.exists('dev:{old}:s:cpu', 'dev:{current}:s:cpu')).toBe(0);
      expect(await redis.ttl(keys.deviceState('old'))).toBeGreaterThan(before - 5);
      expect(decodeState(await redis.hgetBuffer(keys.deviceState('old'), 'cpu'))).toMatchObject({ version: 6, count: 60 });
      expect(await redis.hgetBuffer(keys.deviceState('current'), hoursField('cpu'))).toEqual(hours);
      expect((await send('old', 60, [12])).status).toBe(202);
      expect((await request(`${served.url}/analyze?device=old`)).body.series[0]).toMatchObject({ count: 61 });
      expect((await request(`${served.url}/analyze?device=current`)).body.series[0]).toMatchObject({ count: 60 });
      expect(await migrateStore(redis, keyPrefix, true)).toEqual({ 'unknown (left; rebuilt from its window on its next write)': 1 });
    }));

  it("packs a device's anomaly list kept as JSON, keeping its order and expiry; /anomalies then shows the same records", () =>
    withStore(async (served, redis, keyPrefix) => {
      const body = [10, 10, 10, 10, 10, 10, 10, 10, 10, 11, 50, 60].map((cpu, i) => ({ device_id: 'listed', timestamp: at(i), cpu }));
      expect((await request(`${served.url}/ingest/batch`, { body })).status).toBe(202);
      const shown = (await request(`${served.url}/anomalies?device=listed`)).body.recent;
      expect(shown.length).toBeGreaterThan(0);
      // As a version that kept JSON left it: the same records, times in ms, newest first.
      const key = keys.deviceAnomalies('listed');
      const ttl = await redis.pttl(key);
      const json = (await redis.lrangeBuffer(key, 0, -1)).map((raw) => JSON.stringify(parseDeviceAnomaly(raw, 'listed')));
      await redis.del(key);
      await redis.rpush(key, ...json, 'not a record');
      await redis.pexpire(key, ttl);
      expect((await request(`${served.url}/anomalies?device=listed`)).body.recent).toEqual([]);
      expect(await migrateStore(redis, keyPrefix)).toEqual({ 'anomaly list JSON → packed': 1 });
      expect((await request(`${served.url}/anomalies?device=listed`)).body.recent).toEqual(shown);
      expect(await redis.llen(key)).toBe(shown.length);
      expect(await redis.pttl(key)).toBeGreaterThan(ttl - 5000);
      expect(await migrateStore(redis, keyPrefix)).toEqual({});
    }));

  it('does not move a state over one the service has written since: the newer stays, the old key goes', () =>
    withStore(async (served, redis, keyPrefix) => {
      const body = [1, 2, 3].map((cpu, i) => ({ device_id: 'both', timestamp: at(i), cpu }));
      expect((await request(`${served.url}/ingest/batch`, { body })).status).toBe(202);
      const current = (await redis.hgetBuffer(keys.deviceState('both'), 'cpu'))!;
      const older = Buffer.from(current);
      older.writeDoubleLE(1, 8 * 8); // count
      await redis.hset('dev:{both}:s:cpu', 'state', older);
      expect(await migrateStore(redis, keyPrefix)).toEqual({ 'written meanwhile (left)': 1 });
      expect(await redis.exists('dev:{both}:s:cpu')).toBe(0);
      expect(await redis.hgetBuffer(keys.deviceState('both'), 'cpu')).toEqual(current);
    }));

  it('a series of a layout the service does not read is rebuilt from its window: its average exact, its count starting again', () =>
    withStore(async (served, redis) => {
      const values = Array.from({ length: 60 }, (_, i) => 10 + (i % 7));
      const body = values.map((cpu, i) => ({ device_id: 'v4', timestamp: at(i), cpu }));
      expect((await request(`${served.url}/ingest/batch`, { body })).status).toBe(202);
      const v6 = (await redis.hgetBuffer(keys.deviceState('v4'), 'cpu'))!;
      const v4 = Buffer.from(v6.subarray(0, 27 * 8));
      v4.writeDoubleLE(4, 0);
      await redis.hset(keys.deviceState('v4'), 'cpu', v4);
      expect((await request(`${served.url}/analyze?device=v4`)).body.series).toEqual([]);
      const reply = await request(`${served.url}/ingest`, { body: { device_id: 'v4', timestamp: at(60), cpu: 13 } });
      expect(reply.status).toBe(202);
      const window = [...values.slice(-49), 13];
      const series = (await request(`${served.url}/analyze?device=v4`)).body.series[0];
      expect(series).toMatchObject({ count: 1, samples: 50 });
      expect(series.avg).toBeCloseTo(window.reduce((a, b) => a + b) / 50, 12);
    }));
});
