/** One series to draw: its values with what the detector flagged and, when known, the truth. */
export interface ChartSeries {
  title: string;
  values: readonly number[];
  /** rolling average after each value */
  avg: readonly number[];
  /** mean ± threshold·σ of the baseline before each value (NaN where there is none yet) */
  lower: readonly number[];
  upper: readonly number[];
  flagged: readonly boolean[];
  /** the values that opened an alert episode (the alerts an operator receives) */
  alerts: readonly boolean[];
  /** null: no labels */
  truth: readonly boolean[] | null;
  threshold: number;
}

const W = 1000;
const H = 360;
const M = { left: 60, right: 20, top: 40, bottom: 60 };
const PLOT_W = W - M.left - M.right;
/** Up to this many values are drawn one by one; a longer series as the min and max of each pixel column. */
const MAX_DRAWN = 2 * PLOT_W;

const escape = (text: string) => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const fixed = (x: number) => (Math.round(x * 10) / 10).toString();

/** Smallest and largest finite value of the arrays, by a loop (spreading 10⁵ values into Math.min overflows the stack). */
function extent(arrays: ReadonlyArray<readonly number[]>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const values of arrays) {
    for (const v of values) {
      if (!Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo > hi ? [0, 0] : [lo, hi];
}

/** Index ranges [from, to) drawn as one: a value each for a short series, a pixel column each for a long one. */
function columns(n: number): Array<[number, number]> {
  if (n <= MAX_DRAWN) return Array.from({ length: n }, (_, i) => [i, i + 1]);
  return Array.from({ length: PLOT_W }, (_, c) => [Math.floor((c * n) / PLOT_W), Math.floor(((c + 1) * n) / PLOT_W)]);
}

/**
 * In each column, the indices of its smallest and largest finite values, in order: a long line keeps its extremes.
 * The series' first and last values are kept too, so that the line spans the whole plot.
 */
function extremes(values: readonly number[], cols: ReadonlyArray<[number, number]>): number[] {
  const finite = (i: number) => Number.isFinite(values[i]!);
  const kept: number[] = [];
  const first = values.findIndex((_, i) => finite(i));
  for (const [from, to] of cols) {
    let min = -1;
    let max = -1;
    for (let i = from; i < to; i++) {
      if (!finite(i)) continue;
      const v = values[i]!;
      if (min < 0 || v < values[min]!) min = i;
      if (max < 0 || v > values[max]!) max = i;
    }
    if (min >= 0) kept.push(...(min === max ? [min] : [Math.min(min, max), Math.max(min, max)]));
  }
  const last = values.findLastIndex((_, i) => finite(i));
  if (first >= 0 && kept[0] !== first) kept.unshift(first);
  if (last >= 0 && kept.at(-1) !== last) kept.push(last);
  return kept;
}

type Point = (i: number, v: number) => string;

/** The legend's entries side by side, each as wide as its label (about 6.5 px a character at 12 px). */
function legendItems(entries: ReadonlyArray<[string, string]>): string[] {
  let left = M.left;
  return entries.map(([cls, label]) => {
    const item = `<rect class="${cls}" x="${left}" y="${H - 24}" width="12" height="12"/><text x="${left + 18}" y="${H - 14}">${escape(label)}</text>`;
    left += 18 + Math.ceil(label.length * 6.5) + 16;
    return item;
  });
}

/** The ±threshold·σ band as one closed path; a column of a long series gets the band's outer envelope. */
function bandPath(lower: readonly number[], upper: readonly number[], cols: ReadonlyArray<[number, number]>, at: Point): string {
  const top: string[] = [];
  const bottom: string[] = [];
  for (const [from, to] of cols) {
    let first = -1;
    let last = -1;
    let hi = -Infinity;
    let lo = Infinity;
    for (let i = from; i < to; i++) {
      if (!Number.isFinite(lower[i]!) || !Number.isFinite(upper[i]!)) continue;
      if (first < 0) first = i;
      last = i;
      hi = Math.max(hi, upper[i]!);
      lo = Math.min(lo, lower[i]!);
    }
    if (first < 0) continue;
    for (const i of first === last ? [first] : [first, last]) {
      top.push(at(i, hi));
      bottom.push(at(i, lo));
    }
  }
  return top.length ? `M${top.join(' L')} L${bottom.reverse().join(' L')} Z` : '';
}

/**
 * An SVG document (opens in any browser) of values, rolling average, the ±threshold·σ band, flags, alerts and labels.
 * A long series stays small: its lines are drawn as about two points per pixel column, but every flagged and
 * every labelled value keeps its own circle.
 */
export function renderChart(s: ChartSeries): string {
  const n = s.values.length;
  let [lo, hi] = extent([s.values, s.avg, s.lower, s.upper]);
  if (lo === hi) [lo, hi] = [lo - 1, hi + 1];
  const pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  const x = (i: number) => M.left + (n <= 1 ? 0 : (i / (n - 1)) * PLOT_W);
  const y = (v: number) => M.top + (1 - (v - lo) / (hi - lo)) * (H - M.top - M.bottom);
  const at: Point = (i, v) => `${fixed(x(i))},${fixed(y(v))}`;
  const cols = columns(n);
  const line = (vs: readonly number[]) => extremes(vs, cols).map((i) => at(i, vs[i]!)).join(' ');
  const band = bandPath(s.lower, s.upper, cols, at);
  const circles = (cls: string, r: number, marked: readonly boolean[]) =>
    s.values.flatMap((v, i) => (marked[i] ? [`<circle class="${cls}" cx="${fixed(x(i))}" cy="${fixed(y(v))}" r="${r}"/>`] : []));
  const flagged = circles('flagged', 4, s.flagged);
  const truth = s.truth ? circles('truth', 7, s.truth) : [];
  // An alert is a line through the plot with a marker above it: few, and each one a page.
  const alerts = s.alerts.flatMap((on, i) => {
    if (!on) return [];
    const cx = fixed(x(i));
    return [`<path class="alert" d="M${cx},${M.top} L${cx},${H - M.bottom} M${fixed(x(i) - 5)},${M.top - 8} L${fixed(x(i) + 5)},${M.top - 8} L${cx},${M.top} Z"/>`];
  });
  const legend: Array<[string, string]> = [
    ['values', 'value'],
    ['avg', 'rolling average'],
    ['band', `±${s.threshold}·σ band`],
    ['flagged', 'flagged (|z| above the threshold)'],
    ['alert', 'alert (an episode opened)'],
    ...(s.truth ? ([['truth', 'labelled anomaly']] as Array<[string, string]>) : []),
  ];
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<title>${escape(s.title)}</title>
<style>
.values{fill:none;stroke:#1f77b4;stroke-width:1.2}.avg{fill:none;stroke:#ff7f0e;stroke-width:1.5}
.band{fill:#2ca02c;fill-opacity:.15;stroke:none}.flagged{fill:#d62728}.truth{fill:none;stroke:#9467bd;stroke-width:2}
.alert{fill:#000;stroke:#000;stroke-width:1;stroke-opacity:.6}.axis{stroke:#888}.legend rect.values{fill:#1f77b4}.legend rect.avg{fill:#ff7f0e}.legend rect.band{fill:#2ca02c;fill-opacity:.3}
.legend rect.flagged{fill:#d62728}.legend rect.alert{fill:#000}.legend rect.truth{fill:none;stroke:#9467bd;stroke-width:2}
</style>
<rect width="${W}" height="${H}" fill="white"/>
<text class="heading" x="${M.left}" y="24" font-size="16">${escape(s.title)}</text>
<line class="axis" x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}"/>
<line class="axis" x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}"/>
<text x="${M.left - 6}" y="${fixed(y(hi - pad))}" text-anchor="end">${fixed(hi - pad)}</text>
<text x="${M.left - 6}" y="${fixed(y(lo + pad))}" text-anchor="end">${fixed(lo + pad)}</text>
<text x="${W - M.right}" y="${H - M.bottom + 16}" text-anchor="end">${n} values${n > MAX_DRAWN ? ' (lines: min and max per pixel column)' : ''}</text>
${band ? `<path class="band" d="${band}"/>` : ''}
<polyline class="values" points="${line(s.values)}"/>
<polyline class="avg" points="${line(s.avg)}"/>
${flagged.join('\n')}
${truth.join('\n')}
${alerts.join('\n')}
<g class="legend">
${legendItems(legend).join('\n')}
</g>
</svg>
`;
}
