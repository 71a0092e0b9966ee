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
  /** null: no labels */
  truth: readonly boolean[] | null;
  threshold: number;
}

const W = 1000;
const H = 360;
const M = { left: 60, right: 20, top: 40, bottom: 60 };

const escape = (text: string) => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const fixed = (x: number) => (Math.round(x * 10) / 10).toString();

/** An SVG document (opens in any browser) of values, rolling average, the ±threshold·σ band, flags and labels. */
export function renderChart(s: ChartSeries): string {
  const n = s.values.length;
  const finite = [...s.values, ...s.avg, ...s.lower, ...s.upper].filter(Number.isFinite);
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (lo === hi) [lo, hi] = [lo - 1, hi + 1];
  const pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  const x = (i: number) => M.left + (n <= 1 ? 0 : (i / (n - 1)) * (W - M.left - M.right));
  const y = (v: number) => M.top + (1 - (v - lo) / (hi - lo)) * (H - M.top - M.bottom);
  const line = (vs: readonly number[]) => vs.map((v, i) => (Number.isFinite(v) ? `${fixed(x(i))},${fixed(y(v))}` : '')).filter(Boolean).join(' ');
  const bandIdx = s.lower.map((_, i) => i).filter((i) => Number.isFinite(s.lower[i]!) && Number.isFinite(s.upper[i]!));
  const band = bandIdx.length
    ? `M${bandIdx.map((i) => `${fixed(x(i))},${fixed(y(s.upper[i]!))}`).join(' L')} L${[...bandIdx].reverse().map((i) => `${fixed(x(i))},${fixed(y(s.lower[i]!))}`).join(' L')} Z`
    : '';
  const flagged = s.values.flatMap((v, i) => (s.flagged[i] ? [`<circle class="flagged" cx="${fixed(x(i))}" cy="${fixed(y(v))}" r="4"/>`] : []));
  const truth = s.truth
    ? s.values.flatMap((v, i) => (s.truth![i] ? [`<circle class="truth" cx="${fixed(x(i))}" cy="${fixed(y(v))}" r="7"/>`] : []))
    : [];
  const legend: Array<[string, string]> = [
    ['values', 'value'],
    ['avg', 'rolling average'],
    ['band', `±${s.threshold}·σ band`],
    ['flagged', 'flagged by the detector'],
    ...(s.truth ? ([['truth', 'labelled anomaly']] as Array<[string, string]>) : []),
  ];
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<title>${escape(s.title)}</title>
<style>
.values{fill:none;stroke:#1f77b4;stroke-width:1.2}.avg{fill:none;stroke:#ff7f0e;stroke-width:1.5}
.band{fill:#2ca02c;fill-opacity:.15;stroke:none}.flagged{fill:#d62728}.truth{fill:none;stroke:#9467bd;stroke-width:2}
.axis{stroke:#888}.legend rect.values{fill:#1f77b4}.legend rect.avg{fill:#ff7f0e}.legend rect.band{fill:#2ca02c;fill-opacity:.3}
.legend rect.flagged{fill:#d62728}.legend rect.truth{fill:none;stroke:#9467bd;stroke-width:2}
</style>
<rect width="${W}" height="${H}" fill="white"/>
<text class="heading" x="${M.left}" y="24" font-size="16">${escape(s.title)}</text>
<line class="axis" x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}"/>
<line class="axis" x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}"/>
<text x="${M.left - 6}" y="${fixed(y(hi - pad))}" text-anchor="end">${fixed(hi - pad)}</text>
<text x="${M.left - 6}" y="${fixed(y(lo + pad))}" text-anchor="end">${fixed(lo + pad)}</text>
<text x="${W - M.right}" y="${H - M.bottom + 16}" text-anchor="end">${n} values</text>
${band ? `<path class="band" d="${band}"/>` : ''}
<polyline class="values" points="${line(s.values)}"/>
<polyline class="avg" points="${line(s.avg)}"/>
${flagged.join('\n')}
${truth.join('\n')}
<g class="legend">
${legend.map(([cls, label], i) => `<rect class="${cls}" x="${M.left + i * 180}" y="${H - 24}" width="12" height="12"/><text x="${M.left + i * 180 + 18}" y="${H - 14}">${escape(label)}</text>`).join('\n')}
</g>
</svg>
`;
}
