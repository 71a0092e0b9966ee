// The chart's words: escaped text, the lines under the title, and the legend.
import { PROFILES } from '../shared/detector/profiles.js';
import type { ReplayParams } from '../shared/detector/reference.js';

/** The detector whose flags and alerts a chart shows: its profile (when known) and its parameters. */
export interface ChartDetector {
  /** DETECTOR_PROFILE in force; absent when the caller gave parameters only */
  profile?: string;
  /** parameters left out take the default profile's values, as in the reference */
  params: ReplayParams;
}

/** Text for SVG content or a double-quoted attribute; characters XML does not allow at all are dropped. */
export function escape(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '')
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** At most `max` characters: a longer text keeps its end (a file's name and the metric), after an ellipsis. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `…${text.slice(text.length - max + 1)}`;
}

/**
 * The settings in force, short: the profile, what opens an alert (EPISODE_TRIGGER and its thresholds), and what
 * flags a value (Z_THRESHOLD over WINDOW_SIZE values, after MIN_SAMPLES).
 */
export function settingsLine(detector: ChartDetector): string {
  const p = { ...PROFILES.default, ...detector.params };
  const trigger: Record<string, string> = {
    baseline: `, spike |z| > ${p.baselineSpikeZ}, level |z| > ${p.baselineLevelZ}`,
    likelihood: `, likelihood ≥ ${p.episodeLikelihood}`,
  };
  return [
    ...(detector.profile === undefined ? [] : [`profile ${detector.profile}`]),
    `alerts: ${p.episodeTrigger} trigger${trigger[p.episodeTrigger] ?? ''}`,
    `flags: |z| > ${p.zThreshold} over ${p.windowSize} values (after ${p.minSamples})`,
  ].join('  ·  ');
}

/** One entry of the legend: how its swatch is drawn, its class (or colour, for a kind of label) and its words. */
export interface LegendEntry {
  swatch: 'line' | 'dot' | 'rect' | 'bar';
  cls: string;
  label: string;
  colour?: string;
}

/** Roughly how wide text of 12 units is, per character (no fonts are measured: the SVG is written without a browser). */
const CHAR_WIDTH = 6;
const ROW = 18;

function swatch(e: LegendEntry, x: number, y: number): string {
  const fill = e.colour ? ` fill="${e.colour}"` : '';
  switch (e.swatch) {
    case 'line':
      return `<line class="${e.cls}" x1="${x}" y1="${y - 4}" x2="${x + 16}" y2="${y - 4}"/>`;
    case 'dot':
      return `<circle class="${e.cls}" cx="${x + 8}" cy="${y - 4}" r="${e.cls === 'alert' ? 4.5 : 2.5}"/>`;
    case 'rect':
      return `<rect class="${e.cls}" x="${x}" y="${y - 10}" width="16" height="12"/>`;
    case 'bar':
      return `<rect class="${e.cls}"${fill} x="${x}" y="${y - 6}" width="16" height="5"/>`;
  }
}

/** The legend laid out in rows from (left, top) that wrap before `right`; returns its SVG and how many rows it took. */
export function legend(entries: readonly LegendEntry[], left: number, right: number, top: number): { svg: string; rows: number } {
  let x = left;
  let row = 0;
  const items = entries.map((e) => {
    const width = 22 + Math.ceil(e.label.length * CHAR_WIDTH);
    if (x > left && x + width > right) [x, row] = [left, row + 1];
    const y = top + row * ROW;
    const item = `${swatch(e, x, y)}<text x="${x + 22}" y="${y}">${escape(e.label)}</text>`;
    x += width + 14;
    return item;
  });
  return { svg: `<g class="legend">\n${items.join('\n')}\n</g>`, rows: row + 1 };
}
