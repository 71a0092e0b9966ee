import { describe, expect, it } from 'vitest';
import { apiTime } from '../../shared/schemas/time.js';
import { rng } from '../../support/random.js';

// apiTime writes the time of day itself (the day's text is kept): it must be toISOString, character for character.
describe('API times', () => {
  const iso = (ms: number | string) => new Date(ms).toISOString();

  it('match toISOString at the edges of a second, a minute, an hour, a day, a year and four-digit years', () => {
    const edges = [0, 1, 9, 10, 99, 100, 999, 1000, 59_999, 60_000, 3_599_999, 3_600_000, 86_399_999, 86_400_000,
      951_782_400_000 /* 2000-02-29 */, 1_704_067_199_999, 1_704_067_200_000, 253_402_300_799_999];
    for (const ms of edges) expect(apiTime(ms), String(ms)).toBe(iso(ms));
  });

  it('match toISOString on random times, including times of days other than the last one written', () => {
    const r = rng(11);
    for (let i = 0; i < 20_000; i++) {
      const ms = i % 2 ? r.int(0, 253_402_300_799_999) : 1_767_225_600_000 + r.int(0, 3 * 86_400_000);
      expect(apiTime(ms)).toBe(iso(ms));
    }
  });

  it('leave what is not a whole ms in four-digit years to Date: fractions, year 10000 on, texts', () => {
    for (const ms of [1.5, 1_767_225_600_000.9, 253_402_300_800_000, '2024-01-15T10:30:00Z']) expect(apiTime(ms)).toBe(iso(ms));
  });
});
