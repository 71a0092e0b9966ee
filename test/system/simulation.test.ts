import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { replay as reference } from '../../shared/detector/reference.js';
import { InputError, applyWindows, readCsv, readLabelledStream, readWindows } from '../../sim/readers.js';
import { evaluate, replay } from '../../sim/replay.js';
import { confusion, score } from '../../sim/scoring.js';
import { NOISE_LIMIT, createInfraDevice, heavyTailed, jobRuns } from '../../sim/infra.js';
import { INFRA_SHIFT_LABELLED } from '../../sim/infra-incidents.js';
import { type LabelledEvent, SHIFT_LABELLED, createDevice } from '../../sim/signals.js';
import { rng } from '../../support/random.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'iot-sim-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const event = (i: number, value: number, label: string | null, metric = 'cpu'): LabelledEvent => ({
  device_id: 'd',
  timestamp: 1_700_000_000_000 + i * 1000,
  metrics: { [metric]: value },
  labels: { [metric]: label as LabelledEvent['labels'][string] },
});

describe('scoring', () => {
  it('counts a hand-made stream exactly', () => {
    const c = confusion([true, false, true, false, false], [true, true, false, false, false]);
    expect(c).toEqual({ tp: 1, fp: 1, fn: 1, tn: 2 });
    expect(score(c)).toEqual({ ...c, precision: 0.5, recall: 0.5, f1: 0.5, fpr: 1 / 3, accuracy: 0.6 });
  });

  it('scores nothing to divide as 0, not NaN', () => {
    expect(score({ tp: 0, fp: 0, tn: 4, fn: 0 })).toMatchObject({ precision: 0, recall: 0, f1: 0, fpr: 0, accuracy: 1 });
  });

  it('evaluates per metric, overall and per kind, leaving unlabelled values out', () => {
    const events: LabelledEvent[] = [
      { device_id: 'd', timestamp: 1, metrics: { cpu: 1, rps: 1 }, labels: { cpu: 'spike', rps: null } },
      { device_id: 'd', timestamp: 2, metrics: { cpu: 1, rps: 1 }, labels: { cpu: null, rps: 'stuck' } },
      { device_id: 'd', timestamp: 3, metrics: { cpu: 1, rps: 1 }, labels: { cpu: null } },
    ];
    const result = evaluate(events, new Set(['0:cpu', '1:cpu', '2:rps']));
    expect(result.perMetric.cpu).toMatchObject({ tp: 1, fp: 1, fn: 0, tn: 1 });
    expect(result.perMetric.rps).toMatchObject({ tp: 0, fp: 0, fn: 1, tn: 1 });
    expect(result.overall).toMatchObject({ tp: 1, fp: 1, fn: 1, tn: 2 });
    expect(result.perKind).toEqual({ spike: { labelled: 1, flagged: 1, recall: 1 }, stuck: { labelled: 1, flagged: 0, recall: 0 } });
  });
});

describe('readers', () => {
  it('read a CSV series with a header, ISO and epoch times, and a label column', () => {
    const events = readCsv('timestamp,value,label\n2024-01-15T10:30:00Z,1.5,0\n1705314660,2.5,1\n1705314720000,-3,anomaly\n', 'csv', 'temp');
    expect(events).toEqual([
      { device_id: 'csv', timestamp: Date.parse('2024-01-15T10:30:00Z'), metrics: { temp: 1.5 }, labels: { temp: null } },
      { device_id: 'csv', timestamp: 1705314660000, metrics: { temp: 2.5 }, labels: { temp: 'labelled' } },
      { device_id: 'csv', timestamp: 1705314720000, metrics: { temp: -3 }, labels: { temp: 'labelled' } },
    ]);
  });

  it.each([
    ['2024-01-15T10:30:00Z,abc\n', 'line 1: value "abc" is not a number'],
    ['t,v\nyesterday,1\n', 'line 2: timestamp must be an ISO-8601'],
    ['1705314660,1,maybe\n', 'line 1: label "maybe" is not one of'],
  ])('refuse %j naming the line', (text, message) => {
    expect(() => readCsv(text)).toThrowError(InputError);
    expect(() => readCsv(text)).toThrowError(message);
  });

  it('label a series from anomaly windows, ends included', () => {
    const events = readCsv('1705314600,1\n1705314660,2\n1705314720,3\n1705314780,4\n');
    const windows = readWindows('[{"start": "2024-01-15T10:31:00Z", "end": 1705314720}]');
    expect(applyWindows(events, windows).map((e) => e.labels.value)).toEqual([null, 'labelled', 'labelled', null]);
    expect(() => readWindows('[{"start": 5, "end": 1}]')).toThrowError('ends before it starts');
  });

  it('read the simulator stream, naming a bad line', () => {
    const line = JSON.stringify(event(0, 1, null));
    expect(readLabelledStream(`${line}\n\n${line}\n`)).toHaveLength(2);
    expect(() => readLabelledStream(`${line}\n{"device_id": 1}\n`)).toThrowError('line 2: expected');
  });
});

describe('the simulator', () => {
  it("reproduces the source services' distribution: 10% of readings anomalous on every metric", () => {
    const device = createDevice('s', 'source', rng(3));
    const events = Array.from({ length: 5000 }, (_, i) => device.next(i * 1000));
    const anomalous = events.filter((e) => e.labels.cpu !== null);
    expect(anomalous.length / events.length).toBeGreaterThan(0.08);
    expect(anomalous.length / events.length).toBeLessThan(0.12);
    for (const e of events) {
      const bad = e.labels.cpu !== null;
      expect(Object.values(e.labels).every((l) => (l !== null) === bad)).toBe(true);
      const [lo, hi] = bad ? [85, 98] : [30, 70];
      expect(e.metrics.cpu).toBeGreaterThanOrEqual(lo);
      expect(e.metrics.cpu).toBeLessThanOrEqual(hi);
      expect(e.metrics.latency).toBeGreaterThanOrEqual(bad ? 100 : 10);
    }
  });

  it('injects labelled spikes, dips, level shifts (onset labelled) and stuck values, the same for the same seed', () => {
    const stream = (seed: number) => {
      const device = createDevice('r', 'realistic', rng(seed), 0.02);
      return Array.from({ length: 3000 }, (_, i) => device.next(i * 10_000));
    };
    const events = stream(9);
    expect(stream(9)).toEqual(events);
    const kinds = new Set(events.flatMap((e) => Object.values(e.labels)).filter(Boolean));
    expect([...kinds].sort()).toEqual(['dip', 'level_shift', 'spike', 'stuck']);
    // A stuck run repeats one value; a level shift labels only its first readings.
    const cpu = events.map((e) => [e.metrics.cpu, e.labels.cpu] as const);
    const stuckStart = cpu.findIndex(([, l], i) => l === 'stuck' && cpu[i + 1]?.[1] === 'stuck');
    expect(cpu[stuckStart + 1]![0]).toBe(cpu[stuckStart]![0]);
    let longestShiftLabels = 0;
    let run = 0;
    for (const [, l] of cpu) longestShiftLabels = Math.max(longestShiftLabels, (run = l === 'level_shift' ? run + 1 : 0));
    expect(longestShiftLabels).toBeLessThanOrEqual(SHIFT_LABELLED * 2);
  });
});

describe('the infra preset', () => {
  const START = Date.parse('2026-01-01T00:00:00Z');
  type Window = { metric: string; kind: string; from: number; to: number };

  /** `count` readings 10 s apart of each of `devices` devices, one device after the other. */
  const stream = (seed: number, devices: number, count: number, rate?: number) => {
    const r = rng(seed);
    return Array.from({ length: devices }, (_, i) => {
      const device = createInfraDevice(`i${i}`, r, rate);
      return { device, events: Array.from({ length: count }, (_, k) => device.next(START + k * 10_000)) };
    });
  };

  /** The labelled windows of one device's series: contiguous runs of one kind, `to` included. */
  const windows = (events: readonly LabelledEvent[]): Window[] =>
    Object.keys(events[0]!.metrics).flatMap((metric) => {
      const found: Window[] = [];
      events.forEach((e, i) => {
        const kind = e.labels[metric];
        if (!kind) return;
        if (events[i - 1]?.labels[metric] === kind) found.at(-1)!.to = i;
        else found.push({ metric, kind, from: i, to: i });
      });
      return found;
    });

  /** |z| of each value against the 50 before it (NaN for the first 50), as a naive detector sees it. */
  const rollingZ = (values: readonly number[]) =>
    values.map((v, i) => {
      if (i < 50) return Number.NaN;
      const before = values.slice(i - 50, i);
      const mean = before.reduce((a, b) => a + b, 0) / 50;
      const sd = Math.sqrt(before.reduce((a, b) => a + (b - mean) ** 2, 0) / 50);
      return Math.abs(v - mean) / sd;
    });

  // 20 devices × 5,000 readings at the default rate, the scale docs/detection.md measures.
  let fleet: ReturnType<typeof stream>;
  beforeAll(() => {
    fleet = stream(1, 20, 5000);
  });
  const values = (metric: string, events: readonly LabelledEvent[]) => events.map((e) => e.metrics[metric]!);

  it('is the same for the same seed, whatever the order in which the devices are read, and differs for another seed', () => {
    const r = rng(4);
    const devices = [createDevice('a', 'infra', r), createDevice('b', 'infra', r)];
    const interleaved = Array.from({ length: 2000 }, (_, k) => devices.map((d) => d.next(START + k * 10_000)));
    const [a, b] = stream(4, 2, 2000);
    expect(interleaved.map(([e]) => e!.metrics)).toEqual(a!.events.map((e) => e.metrics));
    expect(interleaved.map(([, e]) => e!.labels)).toEqual(b!.events.map((e) => e.labels));
    expect(stream(4, 2, 2000).map((d) => d.events)).toEqual([a!.events, b!.events]);
    expect(stream(5, 1, 2000)[0]!.events).not.toEqual(a!.events);
  });

  it('labels well under 1% of the values, in a handful of windows per 10,000 readings of a series', () => {
    const all = fleet.flatMap(({ events }) => events.flatMap((e) => Object.values(e.labels)));
    const share = all.filter(Boolean).length / all.length;
    expect(share).toBeGreaterThan(0.001);
    expect(share).toBeLessThan(0.01);
    const perTenThousand = (fleet.flatMap(({ events }) => windows(events)).length / all.length) * 10_000;
    expect(perTenThousand).toBeGreaterThan(1);
    expect(perTenThousand).toBeLessThan(6);
  });

  it('injects every kind of incident, each labelled as documented', () => {
    const devices = stream(2, 6, 10_000, 0.003);
    const found = devices.flatMap(({ events }) => windows(events).filter((w) => w.to < events.length - 1).map((w) => ({ ...w, events })));
    expect([...new Set(found.map((w) => w.kind))].sort()).toEqual(['degradation', 'dip', 'flatline', 'leak', 'level_shift', 'spike']);
    for (const { metric, kind, from, to, events } of found) {
      const v = values(metric, events);
      const length = to - from + 1;
      if (kind === 'spike' || kind === 'dip') expect(length).toBeLessThanOrEqual(3);
      if (kind === 'level_shift') expect(length % INFRA_SHIFT_LABELLED).toBe(0);
      // A flatline is one exact value, for all its length.
      if (kind === 'flatline') expect([length >= 30, new Set(v.slice(from, to + 1)).size]).toEqual([true, 1]);
      // A leak climbs on memory until a restart drops it, the restart labelled too; a degradation on latency likewise until a fix.
      if (kind === 'leak' || kind === 'degradation') {
        expect(metric).toBe(kind === 'leak' ? 'memory' : 'latency');
        expect(v[to - 1]! - v[from]!).toBeGreaterThan(kind === 'leak' ? 10 : 20);
        expect(v[to - 1]! - v[to]!).toBeGreaterThan(kind === 'leak' ? 10 : 20);
      }
    }
  });

  it('leaves normal behaviour unlabelled: heavy tails and periodic jobs that a naive 2σ detector takes for anomalies', () => {
    const r = rng(7);
    const draws = Array.from({ length: 200_000 }, () => heavyTailed(r));
    expect(draws.every((x) => Math.abs(x) <= NOISE_LIMIT)).toBe(true);
    // Gaussian noise puts 0.27% of values beyond 3 deviations; this Student-t (3) about 1.2%.
    expect(draws.filter((x) => Math.abs(x) > 3).length / draws.length).toBeGreaterThan(0.01);
    for (const { device, events } of stream(3, 3, 5000, 0)) {
      expect(events.every((e) => Object.values(e.labels).every((l) => l === null))).toBe(true);
      for (const metric of ['cpu', 'rps', 'memory', 'latency']) {
        expect(rollingZ(values(metric, events)).filter((z) => z > 3).length, metric).toBeGreaterThan(50);
      }
      // The job runs every period (readings are 10 s apart), taking 20-30 points of cpu while it runs.
      const job = events.filter((e) => jobRuns(device.profile, e.timestamp));
      const runs = events.filter((e, i) => i > 0 && job.includes(e) && !job.includes(events[i - 1]!)).length;
      expect(runs).toBeGreaterThanOrEqual(Math.floor((5000 * 10_000) / device.profile.job.periodMs) - 1);
      const meanCpu = (some: readonly LabelledEvent[]) => some.reduce((sum, e) => sum + e.metrics.cpu!, 0) / some.length;
      expect(meanCpu(job) - meanCpu(events.filter((e) => !job.includes(e)))).toBeGreaterThan(15);
    }
    // At the default rate, jobs are labelled no more than any other reading.
    const jobs = fleet.flatMap(({ device, events }) => events.filter((e) => jobRuns(device.profile, e.timestamp)));
    expect(jobs.filter((e) => e.labels.cpu !== null).length / jobs.length).toBeLessThan(0.01);
  });
});

describe('the realistic and source presets', () => {
  it.each([
    ['realistic', 9, 0.02, '24bdbdf3f1d0109d1215d2adcd899b95dfe849ae5a2c6e70abdfed509ecf3984'],
    ['realistic', 1, undefined, '10320cd49b78b9c5bcf26887039c07850162caef107cbe079d03f1044b93eb7e'],
    ['realistic', 42, 0.05, '62525209204306480a5fe2bf7b86b3e5d04a9baac3f1d2fbe9df7e04ffa39e62'],
    ['source', 9, 0.02, '824292a5abddf9d0a1393ec2b3e16fb27b920c9e9568b117743c1ebbe97b5d69'],
  ] as const)('%s, seed %i, rate %s: the same stream as before the infra preset', (preset, seed, rate, hash) => {
    const r = rng(seed);
    const devices = [0, 1, 2].map((i) => createDevice(`d${i}`, preset, r, rate));
    const digest = createHash('sha256');
    for (let k = 0; k < 3000; k++) for (const d of devices) digest.update(`${JSON.stringify(d.next(1_767_225_600_000 + k * 10_000))}\n`);
    expect(digest.digest('hex')).toBe(hash);
  });
});

describe('evaluation through the real path', () => {
  it('gets from the service exactly the flags of the reference semantics', async () => {
    const r = rng(21);
    const device = createDevice('eval', 'realistic', r, 0.03);
    const events = Array.from({ length: 400 }, (_, i) => device.next(1_700_000_000_000 + i * 10_000));
    const settings = { windowSize: 30, zThreshold: 2.5, minSamples: 10 };
    const flags = await replay(events, settings, inject('redisUrl'));
    for (const metric of ['cpu', 'rps', 'memory', 'latency']) {
      const expected = reference(events.map((e) => e.metrics[metric]!), settings);
      const got = events.map((_, i) => flags.has(`${i}:${metric}`));
      expect(got, metric).toEqual(expected.map((o) => o.anomaly));
    }
    const result = evaluate(events, flags);
    expect(result.overall.tp + result.overall.fp + result.overall.fn + result.overall.tn).toBe(400 * 4);
  });
});

describe('the commands', () => {
  it('npm run simulate writes a labelled stream, and evaluate scores it against the service, charts under out/charts by default', async () => {
    const stream = join(dir, 'stream.jsonl');
    const simulate = await run('npm', ['run', '--silent', 'simulate', '--', '--preset', 'source', '--devices', '3', '--events', '100', '--out', stream]);
    expect(simulate.stdout).toMatch(/wrote 300 readings of 3 devices \(source\)/);
    expect(readLabelledStream(readFileSync(stream, 'utf8'))).toHaveLength(300);
    // Run from a scratch directory (npm run would run it from the repository), so that its default output lands there.
    const evaluated = await run(join(root, 'node_modules/.bin/tsx'), [join(root, 'sim/evaluate.ts'), stream, '--sweep', '3', '--charts', '--charts-limit', '2'], {
      cwd: dir,
      env: { ...process.env, REDIS_URL: '' },
    });
    expect(evaluated.stdout).toMatch(/300 events; W=50, threshold=2, min samples=10/);
    expect(evaluated.stdout).toMatch(/^overall\s+[\d.]+%/m);
    expect(evaluated.stdout).toMatch(/threshold sweep/);
    const chart = readFileSync(join(dir, 'out', 'charts', 'sim-0000_cpu.svg'), 'utf8');
    expect(chart).toMatch(/<text class="heading"[^>]*>.*stream\.jsonl  ·  sim-0000 \/ cpu<\/text>/);
    expect(chart).toMatch(/<text class="sub settings"[^>]*>profile default  ·  alerts: baseline trigger/);
    expect(chart).toMatch(/<text class="tick x"[^>]*>\d\d:\d\d<\/text>/);
    expect(readdirSync(join(dir, 'out', 'charts'))).toHaveLength(2);
  }, 120_000);
});
