// The chart's coordinates: where each value goes, and the ticks of both axes (d3-scale picks round ones).
import { scaleLinear, scaleUtc } from 'd3-scale';

/** The plot's rectangle in the chart's own units (the SVG's viewBox). */
export interface PlotArea {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export interface Tick {
  at: number;
  label: string;
}

/** Positions of the values and the ticks of both axes. */
export interface Frame {
  /** x of each value */
  xs: number[];
  y: (value: number) => number;
  xTicks: Tick[];
  yTicks: Tick[];
  /** under the x axis: what it shows and over what span */
  caption: string;
}

/** About one tick per this many units of the plot's width (d3 rounds the count to a nice interval). */
const X_TICK_SPACING = 110;
const Y_TICKS = 6;

/** Times that can carry an axis: all finite, and not all the same (a time that goes back is drawn where it says). */
export function usableTimes(times: readonly number[]): boolean {
  if (times.length < 2 || !times.every(Number.isFinite)) return false;
  const [lo, hi] = extent(times);
  return hi > lo;
}

/** A time as the caption shows it: ISO-8601 in UTC, to the minute or, when it has them, to the second. */
function instant(t: number): string {
  const iso = new Date(t).toISOString();
  return iso.slice(0, iso.slice(17, 23) === '00.000' ? 16 : 19).replace('T', ' ');
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * Tick labels in UTC, as fine as the ticks' step: 14:30:15, 14:30, Jan 05, Jan 2026 or 2026. Ticks within a day
 * show the date at midnight instead, so the day is never lost (the caption gives the whole span).
 */
export function timeLabels(ticks: readonly number[]): string[] {
  const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : DAY;
  const two = (n: number) => String(n).padStart(2, '0');
  return ticks.map((t) => {
    const d = new Date(t);
    const day = `${MONTHS[d.getUTCMonth()]} ${two(d.getUTCDate())}`;
    const midnight = t % DAY === 0;
    if (step < MINUTE) return `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
    if (step < DAY) return midnight ? day : `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}`;
    if (step < 28 * DAY) return day;
    return step < 365 * DAY ? `${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}` : String(d.getUTCFullYear());
  });
}

/** The x axis in the data's own time (UTC), or by value number when the times cannot carry an axis. */
function xAxis(times: readonly number[], area: PlotArea): Pick<Frame, 'xs' | 'xTicks' | 'caption'> {
  const count = Math.max(2, Math.round((area.right - area.left) / X_TICK_SPACING));
  if (usableTimes(times)) {
    const [first, last] = extent(times);
    const x = scaleUtc().domain([first, last]).range([area.left, area.right]);
    const ticks = x.ticks(count).map((d) => d.getTime());
    const labels = timeLabels(ticks);
    const back = times.filter((t, i) => i > 0 && t < times[i - 1]!).length;
    return {
      xs: times.map((t) => x(t)),
      xTicks: ticks.map((t, i) => ({ at: x(t), label: labels[i]! })),
      caption: `time (UTC), ${instant(first)} to ${instant(last)}${back ? `; the time goes back ${back === 1 ? 'once' : `${back} times`}` : ''}`,
    };
  }
  const n = times.length;
  const x = scaleLinear().domain([0, Math.max(1, n - 1)]).range([area.left, area.right]);
  const ticks = x.ticks(count).filter(Number.isInteger);
  return {
    xs: times.map((_, i) => x(i)),
    xTicks: ticks.map((i) => ({ at: x(i), label: String(i) })),
    caption: `value number (the times cannot carry the axis), ${n} values`,
  };
}

/** Smallest and largest finite value, by a loop (spreading 10⁵ values into Math.min overflows the stack). */
export function extent(values: readonly number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo > hi ? [0, 0] : [lo, hi];
}

/** The y axis over the values, widened to round numbers. */
function yAxis(values: readonly number[], area: PlotArea): Pick<Frame, 'y' | 'yTicks'> {
  let [lo, hi] = extent(values);
  if (lo === hi) [lo, hi] = [lo - Math.max(1, Math.abs(lo) * 0.1), hi + Math.max(1, Math.abs(hi) * 0.1)];
  const y = scaleLinear().domain([lo, hi]).range([area.bottom, area.top]).nice(Y_TICKS);
  const format = y.tickFormat(Y_TICKS);
  return { y: (v) => y(v), yTicks: y.ticks(Y_TICKS).map((v) => ({ at: y(v), label: format(v) })) };
}

/** Where everything of a series goes in the plot. */
export function frame(times: readonly number[], values: readonly number[], area: PlotArea): Frame {
  return { ...xAxis(times, area), ...yAxis(values, area) };
}
