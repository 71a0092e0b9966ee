// The marks of the chart, as SVG fragments: lines thinned to the pixel, the band, dots and shaded spans.
import type { Window } from './window-score.js';

/** Coordinates in the SVG, to one decimal: enough for a screen, and the same bytes for the same input. */
export const fixed = (x: number) => (Math.round(x * 10) / 10).toString();

/** Up to this many values are drawn one by one; a longer series as the min and max of each unit of x. */
export const MAX_DRAWN = 2000;

/** Index ranges [from, to) drawn as one: a value each for a short series, a unit of x (a pixel at 1000 wide) each for a long one. */
export function columns(xs: readonly number[]): Array<[number, number]> {
  if (xs.length <= MAX_DRAWN) return xs.map((_, i) => [i, i + 1]);
  const cols: Array<[number, number]> = [];
  let from = 0;
  for (let i = 1; i <= xs.length; i++) {
    if (i < xs.length && Math.floor(xs[i]!) === Math.floor(xs[from]!)) continue;
    cols.push([from, i]);
    from = i;
  }
  return cols;
}

/**
 * In each column, the indices of its smallest and largest finite values, in order: a long line keeps its extremes.
 * The series' first and last values are kept too, so that the line spans the whole plot.
 */
export function extremes(values: readonly number[], cols: ReadonlyArray<[number, number]>): number[] {
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

/** Position of value i at value v, as "x,y". */
export type Point = (i: number, v: number) => string;

/** A polyline's points: every value of a short series, the extremes of each column of a long one. */
export function linePoints(values: readonly number[], cols: ReadonlyArray<[number, number]>, at: Point): string {
  return extremes(values, cols).map((i) => at(i, values[i]!)).join(' ');
}

/** The ±threshold·σ band as one closed path; a column of a long series gets the band's outer envelope. */
export function bandPath(lower: readonly number[], upper: readonly number[], cols: ReadonlyArray<[number, number]>, at: Point): string {
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

/** A circle of class `cls` at each marked value. */
export function dots(cls: string, r: number, marked: readonly boolean[], values: readonly number[], xs: readonly number[], y: (v: number) => number): string[] {
  return values.flatMap((v, i) => (marked[i] && Number.isFinite(v) ? [`<circle class="${cls}" cx="${fixed(xs[i]!)}" cy="${fixed(y(v))}" r="${r}"/>`] : []));
}

/** A run of values [from, to] (both included); `kind` for a run of one kind of label. */
export interface Span {
  from: number;
  to: number;
  kind?: string;
}

/** The values inside each window (by time, both ends included), as index spans; a window with no value inside is left out. */
export function windowSpans(windows: readonly Window[], times: readonly number[]): Span[] {
  return windows.flatMap((w) => {
    let from = -1;
    let to = -1;
    times.forEach((t, i) => {
      if (t < w.start || t > w.end) return;
      if (from < 0) from = i;
      to = i;
    });
    return from < 0 ? [] : [{ from, to }];
  });
}

/** Runs of consecutive values with the same kind of label; `skip` names a kind that gets no run (a label with no kind). */
export function kindSpans(labels: ReadonlyArray<string | null>, skip: string): Span[] {
  const spans: Span[] = [];
  labels.forEach((kind, i) => {
    if (kind === null || kind === skip) return;
    const last = spans.at(-1);
    if (last && last.to === i - 1 && last.kind === kind) last.to = i;
    else spans.push({ from: i, to: i, kind });
  });
  return spans;
}

/** The x extent of a span: half-way to the neighbouring values on each side, at least `min` wide. */
export function spanExtent(span: Span, xs: readonly number[], min: number): [number, number] {
  const a = xs[span.from]!;
  const b = xs[span.to]!;
  let left = span.from > 0 ? (a + xs[span.from - 1]!) / 2 : a;
  let right = span.to < xs.length - 1 ? (b + xs[span.to + 1]!) / 2 : b;
  if (right - left < min) [left, right] = [(left + right - min) / 2, (left + right + min) / 2];
  return [left, right];
}

/** Whether any marked value lies in the span. */
export function caught(span: Span, marked: readonly boolean[]): boolean {
  for (let i = span.from; i <= span.to; i++) if (marked[i]) return true;
  return false;
}
