import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { type ChartSeries, renderChart } from '../../sim/chart.js';
import { timeLabels } from '../../sim/chart-axes.js';
import { applyWindows } from '../../sim/readers.js';
import { chartSeries } from '../../sim/replay.js';
import type { LabelledEvent } from '../../sim/signals.js';
import { rng } from '../../support/random.js';

const dir = mkdtempSync(join(tmpdir(), 'iot-chart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// 48 hourly values over the night New York's clocks go forward (the suite runs in that zone): the axis must stay in UTC.
const T0 = Date.parse('2024-03-10T00:00:00Z');
const HOUR = 3_600_000;
const SPIKE = 20;
const STUCK = [30, 35] as const;
const settings = { windowSize: 20, zThreshold: 2, minSamples: 5 };

function stream(): LabelledEvent[] {
  return Array.from({ length: 48 }, (_, i) => {
    const stuck = i >= STUCK[0] && i <= STUCK[1];
    const value = i === SPIKE ? 40 : stuck ? 12 : 10 + (i % 4);
    const label = i === SPIKE ? 'spike' : stuck ? 'stuck' : null;
    return { device_id: 'd', timestamp: T0 + i * HOUR, metrics: { cpu: value }, labels: { cpu: label } };
  });
}

/** The chart of the stream above, flagged at the spike and one stuck value, alerted at the spike and at value 33. */
function synthetic(): ChartSeries {
  const found = { flags: new Set([`${SPIKE}:cpu`, '33:cpu']), alerts: new Set([`${SPIKE}:cpu`, '33:cpu']) };
  return chartSeries(stream(), found, settings, { profile: 'default' })[0]!;
}

const attrs = (tag: string): Record<string, string> => Object.fromEntries([...tag.matchAll(/([\w-]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
/** Marks of the chart by element and class, the legend's swatches left out. */
const elements = (svg: string, name: string, cls: string) => [...svg.slice(0, svg.indexOf('<g class="legend">')).matchAll(new RegExp(`<${name} class="${cls}"[^>]*>`, 'g'))].map((m) => attrs(m[0]));
const texts = (svg: string, cls: string): Array<Record<string, string> & { text: string }> => [...svg.matchAll(new RegExp(`<text class="${cls}"([^>]*)>([^<]*)</text>`, 'g'))].map((m) => ({ ...attrs(m[1]!), text: m[2]! }));

/** The chart's y of a value, from two of its tick labels (d3 writes negatives with U+2212 and thousands with commas). */
function yOf(svg: string): (v: number) => number {
  const ticks = texts(svg, 'tick y').map((t) => ({ v: Number(t.text.replace('\u2212', '-').replaceAll(',', '')), y: Number(t.y) - 4 }));
  const [a, b] = [ticks[0]!, ticks.at(-1)!];
  return (v) => a.y + ((v - a.v) / (b.v - a.v)) * (b.y - a.y);
}

describe('the chart, as SVG', () => {
  const s = synthetic();
  const svg = renderChart(s);
  const left = 72;
  const right = 976;
  const xOf = (t: number) => left + ((t - T0) / (47 * HOUR)) * (right - left);

  it('has a time axis in the data’s own time (UTC), with ticks at round hours and the date at midnight', () => {
    const ticks = texts(svg, 'tick x');
    expect(ticks.map((t) => t.text)).toEqual(['Mar 10', '06:00', '12:00', '18:00', 'Mar 11', '06:00', '12:00', '18:00']);
    ticks.forEach((t, i) => expect(Number(t.x)).toBeCloseTo(xOf(T0 + i * 6 * HOUR), 0));
    expect(svg).toContain('time (UTC), 2024-03-10 00:00 to 2024-03-11 23:00');
  });

  it('labels the y axis at round numbers, with a light grid line at each', () => {
    const labels = texts(svg, 'tick y').map((t) => Number(t.text));
    expect(labels.length).toBeGreaterThanOrEqual(4);
    const step = labels[1]! - labels[0]!;
    expect([1, 2, 5].map((m) => m * 10 ** Math.floor(Math.log10(step)))).toContain(step);
    labels.forEach((v, i) => expect(v).toBe(labels[0]! + i * step));
    expect(labels[0]).toBeLessThanOrEqual(10);
    expect(labels.at(-1)).toBeGreaterThanOrEqual(40);
    expect(svg.match(/<line class="grid"/g)).toHaveLength(labels.length + 8);
  });

  it('marks each alert at its time and value, and each flag small', () => {
    const y = yOf(svg);
    const alerts = elements(svg, 'circle', 'alert').map((c) => [Number(c.cx), Number(c.cy)]);
    expect(alerts).toHaveLength(2);
    [SPIKE, 33].forEach((i, k) => {
      expect(alerts[k]![0]).toBeCloseTo(xOf(T0 + i * HOUR), 0);
      expect(alerts[k]![1]).toBeCloseTo(y(s.values[i]!), 0);
    });
    expect(elements(svg, 'circle', 'flag').map((c) => Number(c.r))).toEqual([1.8, 1.8]);
    expect(svg).not.toMatch(/class="alert"[^>]*d="M[\d.]+,84 L[\d.]+,364/);
  });

  it('shades each labelled window behind the line, and each kind of label as a thin band', () => {
    const windows = elements(svg, 'rect', 'window');
    expect(windows).toHaveLength(2);
    for (const [w, [from, to]] of windows.map((w, k) => [w, k === 0 ? [SPIKE, SPIKE] : STUCK] as const)) {
      expect(Number(w.x)).toBeLessThanOrEqual(xOf(T0 + from * HOUR));
      expect(Number(w.x) + Number(w.width)).toBeGreaterThanOrEqual(xOf(T0 + to * HOUR));
      expect(Number(w.height)).toBe(364 - 84);
    }
    const kinds = elements(svg, 'rect', 'kind');
    expect(kinds.map((k) => [k.fill, Number(k.height)])).toEqual([['#8c564b', 5], ['#7f7f7f', 5]]);
    expect(svg.indexOf('class="window"')).toBeLessThan(svg.indexOf('<polyline class="values"'));
    expect(texts(svg, 'sub caption')).toHaveLength(1);
    expect([...svg.matchAll(/<text x="[\d.]+" y="[\d.]+">([^<]*)<\/text>/g)].map((m) => m[1])).toEqual(
      ['value', 'rolling average', 'mean ± 2σ', 'flag (|z| &gt; 2)', 'alert (an episode opens)', 'labelled window', 'spike', 'stuck'],
    );
  });

});

describe('the chart’s words and size', () => {
  const s = synthetic();
  const svg = renderChart(s);

  it('names the series, the profile, the settings in force and the counts', () => {
    expect(texts(svg, 'heading')[0]!.text).toBe('d / cpu');
    expect(texts(svg, 'sub settings')[0]!.text).toBe('profile default  ·  alerts: baseline trigger, spike |z| &gt; 6, level |z| &gt; 3  ·  flags: |z| &gt; 2 over 20 values (after 5)');
    expect(texts(svg, 'sub counts')[0]!.text).toBe('48 values  ·  2 alerts  ·  2 flags  ·  2 of 2 labelled windows caught by an alert');
    expect(svg).toMatch(/<title>d \/ cpu · profile default/);
  });

  it('scales (a viewBox, 100% wide, no fixed size), and gives the same bytes for the same input', () => {
    const root = attrs(/<svg [^>]*>/.exec(svg)![0]);
    expect(root).toMatchObject({ width: '100%', style: 'height:auto', viewBox: expect.stringMatching(/^0 0 1000 \d+$/) });
    expect(root.height).toBeUndefined();
    expect(renderChart(synthetic())).toBe(svg);
  });

  it('shades given windows (NAB) without kinds, and escapes every text', () => {
    const windows = [{ start: T0 + 10 * HOUR, end: T0 + 14 * HOUR }];
    const events = applyWindows(stream(), windows);
    const nab = chartSeries(events, { flags: new Set(), alerts: new Set(['12:cpu']) }, settings, { windows })[0]!;
    const out = renderChart({ ...nab, file: 'data/<a & "b">.csv' });
    expect(elements(out, 'rect', 'window')).toHaveLength(1);
    expect(elements(out, 'rect', 'kind')).toHaveLength(0);
    expect(texts(out, 'heading')[0]!.text).toBe('data/&lt;a &amp; &quot;b&quot;&gt;.csv  ·  d / cpu');
    expect(texts(out, 'sub counts')[0]!.text).toMatch(/1 alert {2}· {2}0 flags {2}· {2}1 of 1 labelled window caught by an alert$/);
    expect(texts(out, 'sub settings')[0]!.text).toMatch(/^alerts: /);
  });

  it('labels ticks as finely as their step needs', () => {
    const at = (iso: string) => Date.parse(iso);
    expect(timeLabels([at('2024-01-01T10:00:00Z'), at('2024-01-01T10:00:15Z')])).toEqual(['10:00:00', '10:00:15']);
    expect(timeLabels([at('2024-01-06T00:00:00Z'), at('2024-01-13T00:00:00Z')])).toEqual(['Jan 06', 'Jan 13']);
    expect(timeLabels([at('2024-01-01T00:00:00Z'), at('2024-02-01T00:00:00Z')])).toEqual(['Jan 2024', 'Feb 2024']);
    expect(timeLabels([at('2020-01-01T00:00:00Z'), at('2022-01-01T00:00:00Z')])).toEqual(['2020', '2022']);
  });

  it('falls back to value numbers when the times cannot carry an axis', () => {
    const out = renderChart({ ...s, timestamps: s.timestamps.map(() => T0) });
    expect(texts(out, 'tick x').map((t) => t.text)).toContain('10');
    expect(out).toContain('value number (the times cannot carry the axis), 48 values');
  });
});

describe('a long chart', () => {
  it('draws a 60,000-value series small, keeping its extremes and every flag and alert', () => {
    const r = rng(5);
    const n = 60_000;
    const spike = 33_333;
    const values = Array.from({ length: n }, (_, i) => (i === spike ? 120 : 50 + 10 * Math.sin(i / 700) + r.gauss()));
    const flagged = values.map((_, i) => i === spike || i % 97 === 0);
    const labels = values.map((_, i) => (i === spike || i % 131 === 0 ? 'spike' : null));
    const alerts = values.map((_, i) => i === spike);
    const timestamps = values.map((_, i) => T0 + i * 60_000);
    const series: ChartSeries = {
      title: 'long / cpu', timestamps, values, avg: values, lower: values.map((v) => v - 3), upper: values.map((v) => v + 3),
      flagged, alerts, labels, windows: [], detector: { params: settings },
    };
    const svg = renderChart(series);
    expect(svg.length).toBeLessThan(300_000);
    expect(elements(svg, 'circle', 'flag')).toHaveLength(flagged.filter(Boolean).length);
    expect(elements(svg, 'circle', 'alert')).toHaveLength(1);
    // About two points per unit of x of the 904-wide plot, from the first value to the last.
    const points = /<polyline class="values" points="([^"]*)"/.exec(svg)![1]!.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
    expect(points.length).toBeLessThanOrEqual(2 * 905 + 2);
    expect(points.length).toBeGreaterThan(904);
    expect([points[0]![0], points.at(-1)![0]]).toEqual([72, 976]);
    // The spike survives the thinning: the line's highest point is the spike's alert marker.
    const marker = elements(svg, 'circle', 'alert')[0]!;
    expect(Math.min(...points.map(([, y]) => y))).toBe(Number(marker.cy));
  });
});

describe('the chart in Chromium', () => {
  it('renders without errors, scales with the viewport, and draws the alert marker in red', async () => {
    const s = synthetic();
    const file = join(dir, 'chart.svg');
    writeFileSync(file, renderChart({ ...s, file: 'a <b> & "c"' }));
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const shown = [];
      for (const width of [1200, 600]) shown.push(await look(browser, file, width));
      const [wide, narrow] = shown;
      expect(wide!.errors).toEqual([]);
      expect(narrow!.errors).toEqual([]);
      expect(wide!.heading).toBe('a <b> & "c"  ·  d / cpu');
      expect(wide!.box[0]).toBeCloseTo(1200, 0);
      expect(narrow!.box[0]).toBeCloseTo(600, 0);
      // The height follows the width (the viewBox's aspect ratio), and so does the marker's place.
      expect(wide!.box[1] / narrow!.box[1]).toBeCloseTo(2, 1);
      expect(wide!.alert[0] / narrow!.alert[0]).toBeCloseTo(2, 1);
      for (const { pixels } of shown) {
        const [red, green, blue] = pixels.alert;
        expect(red).toBeGreaterThan(180);
        expect(green).toBeLessThan(90);
        expect(blue).toBeLessThan(90);
        // The window's shade: a light purple, not white.
        expect(pixels.window[2]).toBeGreaterThan(pixels.window[1]!);
        expect(pixels.window[0]).toBeLessThan(250);
      }
    } finally {
      await browser.close();
    }
  });
});

type Browser = Awaited<ReturnType<typeof chromium.launch>>;

/** The chart at one viewport width: errors, sizes, the first alert marker's centre, and screenshot pixels there and in a window. */
async function look(browser: Browser, file: string, width: number) {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  const errors: string[] = [];
  page.on('console', (m) => (m.type() === 'error' ? errors.push(m.text()) : undefined));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`file://${file}`);
  const shown = await page.evaluate(() => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const document = (globalThis as any).document;
    const centre = (e: { getBoundingClientRect(): { x: number; y: number; width: number; height: number } }) => {
      const b = e.getBoundingClientRect();
      return [b.x + b.width / 2, b.y + b.height / 2];
    };
    const box = document.documentElement.getBoundingClientRect();
    const windowBox = document.querySelectorAll('rect.window')[1].getBoundingClientRect();
    return {
      parserError: !!document.querySelector('parsererror'),
      heading: document.querySelector('text.heading')?.textContent,
      box: [box.width, box.height] as [number, number],
      alert: centre(document.querySelector('circle.alert')) as [number, number],
      // Just under the plot's top edge, in the middle of the stuck run's window: shade, no line.
      window: [windowBox.x + windowBox.width / 2, windowBox.y + 3] as [number, number],
    };
  });
  const png = await page.screenshot();
  await page.close();
  if (shown.parserError) errors.push('the SVG did not parse');
  return { ...shown, errors, pixels: await pixelsAt(browser, png, { alert: shown.alert, window: shown.window }) };
}

/** RGB of the screenshot at each point, decoded by Chromium itself (a canvas in a blank page). */
async function pixelsAt(browser: Browser, png: Buffer, points: { alert: number[]; window: number[] }): Promise<{ alert: number[]; window: number[] }> {
  const page = await browser.newPage();
  try {
    return await page.evaluate(async ({ data, points }) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const g = globalThis as any;
      const image = new g.Image();
      image.src = `data:image/png;base64,${data}`;
      await image.decode();
      const canvas = g.document.createElement('canvas');
      [canvas.width, canvas.height] = [image.width, image.height];
      const context = canvas.getContext('2d');
      context.drawImage(image, 0, 0);
      const at = ([x, y]: number[]) => [...context.getImageData(Math.round(x!), Math.round(y!), 1, 1).data].slice(0, 3) as number[];
      return { alert: at(points.alert), window: at(points.window) };
    }, { data: png.toString('base64'), points });
  } finally {
    await page.close();
  }
}
