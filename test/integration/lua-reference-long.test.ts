// The longest comparisons of the Lua script with the reference: kept apart from lua-reference.test.ts so
// that the mutation suite (vitest.mutate.config.ts) can run that file for every mutant of the reference.
import { afterAll, describe, expect, it } from 'vitest';
import { moments, replay, zScore } from '../../shared/detector/reference.js';
import type { Reading } from '../../shared/schemas/event.js';
import { rng } from '../../support/random.js';
import { closeStores, compare, randomDetection, storeFor, stream, throughLua } from '../support/lua-reference.js';

afterAll(closeStores);

describe('the Lua script against the reference, at length', () => {
  it('agrees on every value of random streams, W = 10000', async () => {
    const r = rng(1000 + 8);
    const windowSize = 10_000;
    const params = { windowSize, zThreshold: r.pick([1, 2, 3]), minSamples: Math.min(windowSize, r.pick([1, 2, 10])), ...randomDetection(r, windowSize) };
    const values = stream(r, Math.max(4000, 5 * windowSize), windowSize);
    const lua = await throughLua(storeFor(params), values, r, 400);
    expect(lua).toHaveLength(values.length);
    expect(compare(values, lua, replay(values, params), params)).toEqual([]);
  });

  it('stays within 1e-9 of an exact recomputation over 10^6 events of one series', async () => {
    const params = { windowSize: 50, zThreshold: 2, minSamples: 10 };
    const r = rng(99);
    const store = storeFor(params);
    const window: number[] = [];
    const problems: string[] = [];
    let checked = 0;
    for (let sent = 0; sent < 1_000_000; sent += 5_000) {
      // A large offset with unit noise, spikes of 1e6 and constant runs: the hardest case for running sums.
      const values = Array.from({ length: 5_000 }, (_, i) => {
        const k = sent + i;
        if (k % 997 === 0) return 1e9 + 1e6 * r.gauss();
        if (k % 20_000 < 300) return 1e9;
        return 1e9 + r.gauss();
      });
      const readings: Reading[] = values.map((v, i) => ({ deviceId: 'drift', timestamp: sent + i, metrics: [['v', v]] }));
      const results = await store.recordDetailed(readings);
      values.forEach((v, i) => {
        const z = zScore(v, window);
        const outcome = results[i]!;
        if (outcome.status !== 'applied') throw new Error('not applied');
        const got = outcome.metrics[0]!;
        window.push(v);
        if (window.length > params.windowSize) window.shift();
        const avg = moments(window).mean;
        const zOk = z === null ? got.zscore === null : got.zscore !== null && Math.abs(got.zscore - z) <= 1e-9 * Math.max(1, Math.abs(z));
        const avgOk = Math.abs(got.avg - avg) <= 1e-9 * Math.abs(avg);
        if ((!zOk || !avgOk) && problems.length < 5) problems.push(`#${sent + i}: z ${got.zscore} vs ${z}, avg ${got.avg} vs ${avg}`);
        checked++;
      });
    }
    expect(checked).toBe(1_000_000);
    expect(problems).toEqual([]);
  }, 300_000);
});
