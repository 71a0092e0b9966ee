import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { replay as reference } from '../shared/detector/reference.js';
import { renderChart } from '../sim/chart.js';
import { InputError, applyWindows, readCsv, readLabelledStream, readWindows } from '../sim/readers.js';
import { chartSeries, evaluate, replay } from '../sim/replay.js';
import { confusion, score } from '../sim/scoring.js';
import { type LabelledEvent, SHIFT_LABELLED, createDevice } from '../sim/signals.js';
import { rng } from '../support/random.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../', import.meta.url));
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

describe('the chart', () => {
  it('shows values, average, band, flagged points and labels in a browser', async () => {
    const events = Array.from({ length: 80 }, (_, i) => event(i, i === 40 || i === 60 ? 90 : 50 + (i % 5), i === 40 || i === 70 ? 'spike' : null));
    const flags = new Set(['40:cpu', '60:cpu']);
    const [series] = chartSeries(events, flags, { windowSize: 20, zThreshold: 2, minSamples: 5 });
    const file = join(dir, 'chart.svg');
    writeFileSync(file, renderChart(series!));
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`file://${file}`);
      const shown = await page.evaluate(() => {
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        const document = (globalThis as any).document;
        return {
        title: document.querySelector('title')?.textContent,
        heading: document.querySelector('text.heading')?.textContent,
        points: (document.querySelector('polyline.values')?.getAttribute('points') ?? '').trim().split(/\s+/).length,
        avgPoints: (document.querySelector('polyline.avg')?.getAttribute('points') ?? '').trim().split(/\s+/).length,
        band: !!document.querySelector('path.band')?.getAttribute('d'),
        flagged: document.querySelectorAll('circle.flagged').length,
        truth: document.querySelectorAll('circle.truth').length,
        legend: [...document.querySelectorAll('g.legend text')].map((t: { textContent: string }) => t.textContent),
        size: (() => {
          const box = document.querySelector('svg').getBoundingClientRect();
          return [box.width, box.height];
        })(),
        };
      });
      expect(shown).toEqual({
        title: 'd / cpu',
        heading: 'd / cpu',
        points: 80,
        avgPoints: 80,
        band: true,
        flagged: 2,
        truth: 2,
        legend: ['value', 'rolling average', '±2·σ band', 'flagged by the detector', 'labelled anomaly'],
        size: [1000, 360],
      });
      const png = await page.screenshot();
      expect(png.length).toBeGreaterThan(5000);
    } finally {
      await browser.close();
    }
  });

  it('draws a 60,000-value series small, keeping its extremes and every flagged and labelled point', () => {
    const r = rng(5);
    const n = 60_000;
    const spike = 33_333;
    const values = Array.from({ length: n }, (_, i) => (i === spike ? 120 : 50 + 10 * Math.sin(i / 700) + r.gauss()));
    const flagged = values.map((_, i) => i === spike || i % 97 === 0);
    const truth = values.map((_, i) => i === spike || i % 131 === 0);
    const series = { title: 'long / cpu', values, avg: values, lower: values.map((v) => v - 3), upper: values.map((v) => v + 3), flagged, truth, threshold: 2 };
    const svg = renderChart(series);
    expect(svg.length).toBeLessThan(200_000);
    const circles = (cls: string) => [...svg.matchAll(new RegExp(`<circle class="${cls}" cx="([\\d.]+)" cy="([\\d.]+)"`, 'g'))];
    expect(circles('flagged')).toHaveLength(flagged.filter(Boolean).length);
    expect(circles('truth')).toHaveLength(truth.filter(Boolean).length);
    // About two points per pixel column of the 920-pixel plot, from the first value to the last.
    const points = /<polyline class="values" points="([^"]*)"/.exec(svg)![1]!.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
    expect(points.length).toBeLessThanOrEqual(2 * 920 + 2);
    expect(points.length).toBeGreaterThan(920);
    expect([points[0]![0], points.at(-1)![0]]).toEqual([60, 980]);
    // The spike survives the downsampling: the line's highest point is the spike's flagged circle.
    const spikeCircle = circles('flagged').find(([, cx]) => Math.abs(Number(cx) - (60 + (spike / (n - 1)) * 920)) < 0.1)!;
    expect(Math.min(...points.map(([, y]) => y))).toBe(Number(spikeCircle[2]));
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
    expect(readFileSync(join(dir, 'out', 'charts', 'sim-0000_cpu.svg'), 'utf8')).toContain('<svg');
    expect(readdirSync(join(dir, 'out', 'charts'))).toHaveLength(2);
  }, 120_000);
});
