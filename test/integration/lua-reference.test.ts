import { afterAll, describe, expect, it } from 'vitest';
import { replay } from '../../shared/detector/reference.js';
import { rng } from '../../support/random.js';
import { closeStores, compare, randomBaseline, randomDetection, seasonalStream, storeFor, stream, throughLua, timesOf } from '../support/lua-reference.js';

// The longest cases (W = 10,000 and 10^6 events of one series) are in lua-reference-long.test.ts.
afterAll(closeStores);

describe('the Lua script against the reference', () => {
  const windows = [2, 3, 5, 10, 50, 200, 1000, 2500];
  for (const [n, windowSize] of windows.entries()) {
    it(`agrees on every value of random streams, W = ${windowSize}`, async () => {
      const r = rng(1000 + n);
      const params = { windowSize, zThreshold: r.pick([1, 2, 3]), minSamples: Math.min(windowSize, r.pick([1, 2, 10])), ...randomDetection(r, windowSize) };
      const values = stream(r, Math.max(4000, 5 * windowSize), windowSize);
      const lua = await throughLua(storeFor(params), values, r, 400);
      expect(lua).toHaveLength(values.length);
      expect(compare(values, lua, replay(values, params), params)).toEqual([]);
    });
  }

  // Trigger baseline: its 57 numbers of state per series go through Redis between calls of random size,
  // with event times that cross every hour of the day (its hour-of-day means) at several spacings.
  for (const [n, step] of [1000, 60_000, 300_000, 3_600_000, 5_400_000].entries()) {
    it(`agrees on every value and every alert of random streams, trigger baseline, values ${step / 1000} s apart`, async () => {
      const r = rng(3000 + n);
      const windowSize = r.pick([10, 50, 200]);
      const params = { windowSize, zThreshold: 2, minSamples: 10, ...randomDetection(r, windowSize), ...randomBaseline(r), episodeTrigger: 'baseline' as const };
      const times = timesOf(6000, 1_700_000_000_000 + r.int(0, 86_400_000), step);
      // The random segments test the arithmetic at its edges; the seasonal stream makes every test fire.
      const values = [...seasonalStream(r, times.slice(0, 4000)), ...stream(r, 2000, windowSize)];
      const lua = await throughLua(storeFor(params), values, r, 400, times);
      expect(lua).toHaveLength(values.length);
      expect(compare(values, lua, replay(values, params, times), params)).toEqual([]);
      expect(lua.slice(0, 4000).filter((o) => o.episode === 'opened').length).toBeGreaterThanOrEqual(5);
    });
  }

  // The values' score and likelihood are computed by the caller from the script's z and the likelihood's
  // d and variance; the script's own score and likelihood (Lua's erfc) are in the episode records.
  for (const trigger of ['flag', 'likelihood'] as const) {
    it(`stores episode records that agree with the values' results (trigger ${trigger}): the opening value, its score and likelihood, the peak at its time`, async () => {
      const r = rng(trigger === 'flag' ? 2001 : 2002);
      const params = { windowSize: 50, zThreshold: 2, minSamples: 10, ...randomDetection(r, 50), episodeTrigger: trigger, episodeLikelihood: 0.99, episodeCloseAfter: 3 };
      const store = storeFor(params);
      const values = stream(r, 4000, 50);
      const lua = await throughLua(store, values, r, 400);
      const records = await store.recentEpisodes(100, 'p');
      expect(records.filter((e) => e.peak !== null).length).toBeGreaterThan(5);
      const near = (a: number, b: number) => Math.abs(a - b) <= 1e-6;
      for (const e of records) {
        // Value i of the stream has time i ms.
        const at = Date.parse(e.start);
        expect(lua[at]!.episode).toBe('opened');
        expect(e.value).toBe(values[at]);
        expect(near(e.score, lua[at]!.score) && near(e.likelihood, lua[at]!.likelihood), `opened at ${at}: ${e.score}, ${e.likelihood} vs ${lua[at]!.score}, ${lua[at]!.likelihood}`).toBe(true);
        if (e.peak === null) continue;
        const peak = Date.parse(e.peak.at);
        expect(e.peak.value).toBe(values[peak]);
        expect(near(e.peak.score, lua[peak]!.score), `peak at ${peak}: ${e.peak.score} vs ${lua[peak]!.score}`).toBe(true);
        expect(e.peak.score).toBeGreaterThanOrEqual(e.score);
      }
    });
  }

  it('flags the zero-variance case, and never a constant stream', async () => {
    const params = { windowSize: 20, zThreshold: 2, minSamples: 10 };
    const values = [...Array(30).fill(5), 5.000001, ...Array(30).fill(5)];
    const lua = await throughLua(storeFor(params), values, rng(7), 1);
    expect(lua[30]).toMatchObject({ zscore: null, anomaly: true });
    expect(lua.filter((o) => o.anomaly)).toHaveLength(1);
    expect(lua.slice(0, 30).every((o) => o.zscore === 0)).toBe(true);
  });
});
