// The Lua script and the reference side by side: a store per parameter set, streams of one series
// sent in calls of random size, and the comparison (test/integration/lua-reference*.test.ts).
import { detectorEnv } from '../../shared/detector/params.js';
import { PROFILES } from '../../shared/detector/profiles.js';
import type { DetectorParams, Outcome, ReplayParams } from '../../shared/detector/reference.js';
import { createContext } from '../../shared/context.js';
import type { Reading } from '../../shared/schemas/event.js';
import type { MetricResult } from '../../shared/store/store.js';
import type { Rng } from '../../support/random.js';
import { testConfig } from './app.js';
import { type DetailedStore, withDetailed } from './detailed-store.js';

const stores: DetailedStore[] = [];

/** Closes the stores storeFor made (a file's afterAll). */
export async function closeStores(): Promise<void> {
  await Promise.all(stores.splice(0).map((s) => s.close()));
}

export function storeFor(params: ReplayParams): DetailedStore {
  const context = createContext(testConfig({ ...detectorEnv({ ...PROFILES.default, ...params }), MAX_BATCH: '10000' }));
  const store = withDetailed(context.store, context.config, context.metrics);
  stores.push(store);
  return store;
}

/** Sends a stream of one series through the Lua script in calls of random size (value i at time `times[i]`, default i ms); returns every result. */
export async function throughLua(store: DetailedStore, values: readonly number[], r: Rng, maxChunk: number, times?: readonly number[]): Promise<MetricResult[]> {
  const out: MetricResult[] = [];
  for (let i = 0; i < values.length; ) {
    const n = Math.min(values.length - i, r.int(1, maxChunk));
    const readings: Reading[] = values.slice(i, i + n).map((v, j) => ({ deviceId: 'p', timestamp: times?.[i + j] ?? i + j, metrics: [['v', v]] }));
    for (const outcome of await store.recordDetailed(readings)) {
      if (outcome.status !== 'applied') throw new Error(`not applied: ${outcome.status}`);
      out.push(outcome.metrics[0]!);
    }
    i += n;
  }
  return out;
}

/**
 * Agreement within 1e-9 relative: avg against the window's magnitude, z against max(1, |z|); score and
 * likelihood within 1e-6; the episode step exactly, up to the first value whose flag, score or
 * likelihood lies within that tolerance of a threshold (past it, the two may take different branches).
 */
export function compare(values: readonly number[], lua: MetricResult[], ref: Outcome[], given: ReplayParams) {
  const params: DetectorParams = { ...PROFILES.default, ...given };
  const problems: string[] = [];
  let episodesAgree = true;
  let opened = 0;
  for (let i = 0; i < values.length && problems.length < 5; i++) {
    const a = lua[i]!;
    const b = ref[i]!;
    let scale = 0;
    for (let j = Math.max(0, i - params.windowSize + 1); j <= i; j++) scale = Math.max(scale, Math.abs(values[j]!));
    const where = `#${i} value ${values[i]}`;
    if (!(Math.abs(a.avg - b.avg) <= 1e-9 * scale)) problems.push(`${where}: avg ${a.avg} vs ${b.avg}`);
    if ((a.zscore === null) !== (b.zscore === null)) {
      problems.push(`${where}: z ${a.zscore} vs ${b.zscore}`);
      continue;
    }
    if (a.zscore !== null && b.zscore !== null) {
      const tolerance = 1e-9 * Math.max(1, Math.abs(b.zscore));
      if (!(Math.abs(a.zscore - b.zscore) <= tolerance)) problems.push(`${where}: z ${a.zscore} vs ${b.zscore}`);
      const onThreshold = Math.abs(Math.abs(b.zscore) - params.zThreshold) <= tolerance;
      if (a.anomaly !== b.anomaly && !onThreshold) problems.push(`${where}: anomaly ${a.anomaly} vs ${b.anomaly}`);
    } else if (a.anomaly !== b.anomaly) problems.push(`${where}: anomaly ${a.anomaly} vs ${b.anomaly}`);
    if (!(Math.abs(a.score - b.score) <= 1e-6)) problems.push(`${where}: score ${a.score} vs ${b.score}`);
    if (!(Math.abs(a.likelihood - b.likelihood) <= 1e-6)) problems.push(`${where}: likelihood ${a.likelihood} vs ${b.likelihood}`);
    episodesAgree &&= !nearThreshold(b, params);
    if (episodesAgree && a.episode !== b.episode) problems.push(`${where}: episode ${a.episode} vs ${b.episode}`);
    if (episodesAgree && b.episode === 'opened') opened++;
  }
  // The episode comparison must have seen episodes open: a stream that never opens one checks nothing.
  if (opened === 0) problems.push('no episode opened before the comparison stopped');
  return problems;
}

export function nearThreshold(o: Outcome, p: DetectorParams): boolean {
  const near = (x: number, t: number) => Math.abs(x - t) <= 1e-6 * Math.max(1, Math.abs(t));
  const nearFlag = o.zscore !== null && near(Math.abs(o.zscore), p.zThreshold);
  // The baseline method's arithmetic is the same in both, operation for operation: its steps agree exactly.
  if (p.episodeTrigger === 'baseline') return false;
  if (p.episodeTrigger === 'flag') return nearFlag;
  return near(o.likelihood, p.episodeLikelihood) || (p.episodeScore > 0 && near(o.score, p.episodeScore)) || (p.episodeWarmup > 0 && nearFlag);
}

/** Random detection parameters around those of the profiles. */
export function randomDetection(r: Rng, windowSize: number): Partial<DetectorParams> {
  return {
    likelihoodShort: r.pick([1, 3, 10]),
    likelihoodLong: r.pick([10, 100, 1000]),
    episodeTrigger: r.pick(['baseline', 'flag', 'likelihood'] as const),
    ...randomBaseline(r),
    episodeLikelihood: r.pick([0.9, 0.99, 0.9999]),
    episodeScore: r.pick([0, 0.99, 0.999999]),
    episodeCloseAfter: r.pick([1, 3, Math.min(windowSize, 20)]),
    episodeRefractory: r.pick([0, 2, 10]),
    episodeFlatline: r.pick([0, 3, 10]),
    episodeWarmup: r.pick([0, 5, 50]),
  };
}

/** Random parameters of the baseline method around its defaults (short spans and periods, so that a stream of thousands of values alerts often). */
export function randomBaseline(r: Rng): Partial<DetectorParams> {
  return {
    baselineLong: r.pick([2, 50, 500, 8000]),
    baselineShort: r.pick([1, 3, 10]),
    baselineSpikeZ: r.pick([0, 2, 6]),
    baselineLevelZ: r.pick([0, 1.5, 3]),
    baselineRefractory: r.pick([0, 5, 50]),
    baselineWarmup: r.pick([0, 10, 100]),
    baselineHourSpan: r.pick([0, 1, 5, 100]),
    baselineFlatRun: r.pick([0, 3, 10]),
    baselineFlatShare: r.pick([0.2, 1]),
  };
}

/** Event times of a stream of `length` values `step` ms apart from `start`: an hour-of-day baseline sees every hour. */
export function timesOf(length: number, start: number, step: number): number[] {
  return Array.from({ length }, (_, i) => start + i * step);
}

/**
 * A stream with a daily cycle at the event times (what the hour-of-day means learn) and noise, broken by
 * segments that the baseline method's tests see: level shifts, spikes, stuck values, small integers.
 */
export function seasonalStream(r: Rng, times: readonly number[]): number[] {
  const offset = r.pick([0, 50, 1e6, -3.5]);
  const spread = r.pick([1, 1e-3, 1e3]);
  const values: number[] = [];
  while (values.length < times.length) {
    const kind = r.pick(['cycle', 'cycle', 'cycle', 'shift', 'spike', 'stuck', 'integers'] as const);
    const run = r.int(5, 400);
    const shift = kind === 'shift' ? spread * r.pick([-8, 5, 20]) : 0;
    for (let i = 0; i < run && values.length < times.length; i++) {
      const hour = (times[values.length]! / 3_600_000) % 24;
      const cycle = offset + shift + 10 * spread * Math.sin((2 * Math.PI * hour) / 24) + spread * r.gauss();
      if (kind === 'stuck') values.push(i === 0 ? cycle : values[values.length - 1]!);
      else if (kind === 'spike') values.push(i % 50 === 0 ? cycle + 30 * spread : cycle);
      else if (kind === 'integers') values.push(offset + r.int(0, 2));
      else values.push(cycle);
    }
  }
  return values;
}

/** Random streams made of segments: noise at some offset and scale, constant runs, spikes, tiny values, small integers. */
export function stream(r: Rng, length: number, windowSize: number): number[] {
  // Always start with the transitions that break naive running sums: huge values leaving a window that
  // turns constant, then unit noise on a large offset.
  const values: number[] = [];
  for (let i = 0; i < windowSize; i++) values.push((i % 2 ? 1e80 : -3e79) * (1 + r.next()));
  for (let i = 0; i < 1.5 * windowSize; i++) values.push(0.1);
  for (let i = 0; i < 1.5 * windowSize; i++) values.push(1e9 + r.gauss());
  while (values.length < length) {
    const kind = r.pick(['noise', 'noise', 'constant', 'spike', 'tiny', 'integers', 'huge'] as const);
    // Runs long enough that windows turn homogeneous after a mix: the case that breaks running sums.
    const run = r.int(1, Math.max(4, Math.floor(1.5 * windowSize)));
    const offset = r.pick([0, 50, 1e9, -1e12, 5e-7, 1e15, -3.5]);
    const spread = r.pick([1, 1e-3, 1e3, Math.abs(offset) * 1e-6 || 1]);
    for (let i = 0; i < run && values.length < length; i++) {
      switch (kind) {
        case 'noise':
          values.push(offset + spread * r.gauss());
          break;
        case 'constant':
          values.push(i === 0 ? offset + spread * r.gauss() : values[values.length - 1]!);
          break;
        case 'spike':
          values.push(offset + spread * (i % 7 === 0 ? 1e6 : r.gauss()));
          break;
        case 'tiny':
          values.push(1e-90 * r.gauss());
          break;
        case 'integers':
          values.push(r.int(0, 3));
          break;
        case 'huge':
          values.push(r.pick([1, -1]) * 1e80 * (1 + r.next()));
          break;
      }
    }
  }
  return values;
}

