// One series as a self-contained SVG chart: values over the data's own time, what the detector flagged and
// alerted, the labelled windows behind the line, and the settings in force in the title. Same input, same bytes.
import { type Frame, type PlotArea, frame } from './chart-axes.js';
import { type Point, type Span, bandPath, caught, columns, dots, fixed, kindSpans, linePoints, spanExtent, windowSpans } from './chart-marks.js';
import { type ChartDetector, type LegendEntry, clip, escape, legend, settingsLine } from './chart-text.js';
import type { Window } from './window-score.js';

export type { ChartDetector } from './chart-text.js';

/** One series to draw: its values with what the detector flagged and, when known, the truth. */
export interface ChartSeries {
  /** the series: device / metric */
  title: string;
  /** the file it came from, when there is one to name */
  file?: string;
  /** ms since the epoch, one per value */
  timestamps: readonly number[];
  values: readonly number[];
  /** rolling average after each value */
  avg: readonly number[];
  /** mean ± threshold·σ of the baseline before each value (NaN where there is none yet) */
  lower: readonly number[];
  upper: readonly number[];
  /** per value: |z| above the threshold */
  flagged: readonly boolean[];
  /** the values that opened an alert episode (the alerts an operator receives) */
  alerts: readonly boolean[];
  /** per value: the kind of labelled anomaly, or null for a normal value; null: no labels */
  labels: ReadonlyArray<string | null> | null;
  /** the labelled anomaly windows (ms, both ends included) */
  windows: readonly Window[];
  detector: ChartDetector;
}

const W = 1000;
const AREA: PlotArea = { left: 72, right: W - 24, top: 84, bottom: 364 };
/** Under the plot: tick labels, the axis caption, then the legend's first row. */
const CAPTION_Y = AREA.bottom + 34;
const LEGEND_Y = AREA.bottom + 58;
/** The label that says "anomalous" and no more (a CSV label column, or windows applied to a file): shaded, with no band of its own. */
const PLAIN_LABEL = 'labelled';
/** A colour per kind of injected anomaly (sim/signals.ts); any other kind is grey. */
const KIND_COLOURS: Record<string, string> = {
  spike: '#8c564b',
  dip: '#17becf',
  level_shift: '#bcbd22',
  stuck: '#7f7f7f',
  flatline: '#e377c2',
  leak: '#2ca02c',
  degradation: '#ff7f0e',
  source: '#9467bd',
};
const kindColour = (kind: string) => KIND_COLOURS[kind] ?? '#7f7f7f';

const STYLE = `text{fill:#333}.heading{font-size:16px;font-weight:600;fill:#111}.sub{fill:#555}
.grid{stroke:#e6e6e6;stroke-width:1}.axis{stroke:#999;stroke-width:1}.tick{fill:#555;font-size:11px}
.values{fill:none;stroke:#1f77b4;stroke-width:1.3;stroke-linejoin:round}.avg{fill:none;stroke:#555;stroke-width:1;stroke-dasharray:4 3;stroke-opacity:.8}
.band{fill:#1f77b4;fill-opacity:.08;stroke:none}.window{fill:#9467bd;fill-opacity:.16;stroke:none}.kind{fill-opacity:.85;stroke:none}
.flag{fill:#ff7f0e;fill-opacity:.8;stroke:none}.alert{fill:#d62728;stroke:#fff;stroke-width:1.2}`;

/** Grid lines at the ticks, the two axes and the tick labels. */
function axes(f: Frame): string {
  const { left, right, top, bottom } = AREA;
  const grid = [
    ...f.yTicks.map((t) => `<line class="grid" x1="${left}" y1="${fixed(t.at)}" x2="${right}" y2="${fixed(t.at)}"/>`),
    ...f.xTicks.map((t) => `<line class="grid" x1="${fixed(t.at)}" y1="${top}" x2="${fixed(t.at)}" y2="${bottom}"/>`),
  ];
  const labels = [
    ...f.yTicks.map((t) => `<text class="tick y" x="${left - 6}" y="${fixed(t.at + 4)}" text-anchor="end">${escape(t.label)}</text>`),
    ...f.xTicks.map((t) => `<text class="tick x" x="${fixed(t.at)}" y="${bottom + 16}" text-anchor="middle">${escape(t.label)}</text>`),
  ];
  return [
    `<g class="grid">${grid.join('')}</g>`,
    `<line class="axis" x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}"/><line class="axis" x1="${left}" y1="${top}" x2="${left}" y2="${bottom}"/>`,
    `<g class="ticks">\n${labels.join('\n')}\n</g>`,
    `<text class="sub caption" x="${right}" y="${CAPTION_Y}" text-anchor="end">${escape(f.caption)}</text>`,
  ].join('\n');
}

/** Labelled windows as full-height shaded spans, and each run of one kind of label as a thin band along the plot's foot. */
function labelMarks(windows: readonly Span[], kinds: readonly Span[], xs: readonly number[]): string {
  const height = AREA.bottom - AREA.top;
  const spans = windows.map((s) => {
    const [a, b] = spanExtent(s, xs, 4);
    return `<rect class="window" x="${fixed(a)}" y="${AREA.top}" width="${fixed(b - a)}" height="${height}"/>`;
  });
  const bands = kinds.map((s) => {
    const [a, b] = spanExtent(s, xs, 2);
    return `<rect class="kind" fill="${kindColour(s.kind!)}" x="${fixed(a)}" y="${AREA.bottom - 7}" width="${fixed(b - a)}" height="5"/>`;
  });
  return [`<g class="windows">${spans.join('')}</g>`, `<g class="kinds">${bands.join('')}</g>`].join('\n');
}

/** The series' own marks: the band (clipped to the plot), the rolling average, the values, flags and alerts. */
function dataMarks(s: ChartSeries, f: Frame): string {
  const at: Point = (i, v) => `${fixed(f.xs[i]!)},${fixed(f.y(v))}`;
  const cols = columns(f.xs);
  const band = bandPath(s.lower, s.upper, cols, at);
  return [
    band ? `<path class="band" clip-path="url(#plot-area)" d="${band}"/>` : '',
    `<polyline class="avg" points="${linePoints(s.avg, cols, at)}"/>`,
    // Flags under the line: many of them (a noisy series) must not hide it.
    `<g class="flags">${dots('flag', 1.8, s.flagged, s.values, f.xs, f.y).join('')}</g>`,
    `<polyline class="values" points="${linePoints(s.values, cols, at)}"/>`,
    `<g class="alerts">\n${dots('alert', 4.5, s.alerts, s.values, f.xs, f.y).join('\n')}\n</g>`,
  ].join('\n');
}

/** The legend's entries: what is on this chart, and nothing that is not. */
function legendEntries(s: ChartSeries, z: number, kinds: readonly string[]): LegendEntry[] {
  return [
    { swatch: 'line', cls: 'values', label: 'value' },
    { swatch: 'line', cls: 'avg', label: 'rolling average' },
    { swatch: 'rect', cls: 'band', label: `mean ± ${z}σ` },
    { swatch: 'dot', cls: 'flag', label: `flag (|z| > ${z})` },
    { swatch: 'dot', cls: 'alert', label: 'alert (an episode opens)' },
    ...(s.windows.length ? [{ swatch: 'rect', cls: 'window', label: 'labelled window' } as const] : []),
    ...kinds.map((kind) => ({ swatch: 'bar', cls: 'kind', colour: kindColour(kind), label: kind }) as const),
  ];
}

/** The three lines over the plot: which series, with which settings, and what came of it. */
function heading(s: ChartSeries, windows: readonly Span[]): string {
  const name = s.file === undefined ? s.title : `${s.file}  ·  ${s.title}`;
  const count = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  const hits = windows.filter((w) => caught(w, s.alerts)).length;
  const counts = [
    count(s.values.length, 'value'),
    count(s.alerts.filter(Boolean).length, 'alert'),
    count(s.flagged.filter(Boolean).length, 'flag'),
    s.labels === null && s.windows.length === 0 ? 'no labels' : `${hits} of ${count(windows.length, 'labelled window')} caught by an alert`,
  ].join('  ·  ');
  return [
    `<text class="heading" x="${AREA.left}" y="26">${escape(clip(name, 100))}</text>`,
    `<text class="sub settings" x="${AREA.left}" y="48">${escape(settingsLine(s.detector))}</text>`,
    `<text class="sub counts" x="${AREA.left}" y="68">${escape(counts)}</text>`,
  ].join('\n');
}

/**
 * An SVG document (opens in any browser, scales to its container) of one series. A long series stays small:
 * its lines are drawn as about two points per unit of x, but every flag and every alert keeps its own mark.
 */
export function renderChart(s: ChartSeries): string {
  const f = frame(s.timestamps, s.values, AREA);
  const windows = windowSpans(s.windows, s.timestamps);
  const kinds = kindSpans(s.labels ?? [], PLAIN_LABEL);
  const kindNames = [...new Set(kinds.map((k) => k.kind!))].sort();
  const key = legend(legendEntries(s, s.detector.params.zThreshold, kindNames), AREA.left, AREA.right, LEGEND_Y);
  const height = LEGEND_Y + (key.rows - 1) * 18 + 14;
  const { left, top, right, bottom } = AREA;
  const title = [s.file, s.title, settingsLine(s.detector)].filter((t) => t !== undefined).join(' · ');
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="100%" style="height:auto" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="12">
<title>${escape(title)}</title>
<style>
${STYLE}
</style>
<defs><clipPath id="plot-area"><rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}"/></clipPath></defs>
<rect class="background" width="${W}" height="${height}" fill="#fff"/>
${heading(s, windows)}
${labelMarks(windows, kinds, f.xs)}
${axes(f)}
${dataMarks(s, f)}
${key.svg}
</svg>
`;
}
