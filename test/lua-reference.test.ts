import { afterAll, describe, expect, it } from 'vitest';
import { replay } from '../shared/detector/reference.js';
import { rng } from '../support/random.js';
import { closeStores, compare, randomDetection, storeFor, stream, throughLua } from './support/lua-reference.js';

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

  it('flags the zero-variance case, and never a constant stream', async () => {
    const params = { windowSize: 20, zThreshold: 2, minSamples: 10 };
    const values = [...Array(30).fill(5), 5.000001, ...Array(30).fill(5)];
    const lua = await throughLua(storeFor(params), values, rng(7), 1);
    expect(lua[30]).toMatchObject({ zscore: null, anomaly: true });
    expect(lua.filter((o) => o.anomaly)).toHaveLength(1);
    expect(lua.slice(0, 30).every((o) => o.zscore === 0)).toBe(true);
  });
});
