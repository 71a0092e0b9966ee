// npm run evaluate --export-nab: a run's alerts in the results/ layout of the Numenta Anomaly Benchmark, so that
// NAB's own scorer (python run.py --score --normalize) can score the same alerts that evaluate scored.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileProblem } from './options.js';
import type { Flags } from './replay.js';
import type { LabelledEvent } from './signals.js';
import type { Window } from './window-score.js';

/** NAB's time format: UTC, "YYYY-MM-DD HH:MM:SS". */
const nabTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, '');

/**
 * One file's rows as NAB's scorer reads them: timestamp, value, anomaly_score (1 where an alert was
 * raised, else 0; score it with threshold 0.5) and label (1 inside a window), one row per event in order.
 */
export function nabResultCsv(events: readonly LabelledEvent[], alerts: Flags, windows: readonly Window[]): string {
  const rows = events.map((e, i) => {
    const [metric, value] = Object.entries(e.metrics)[0] ?? ['value', Number.NaN];
    const inside = windows.some((w) => e.timestamp >= w.start && e.timestamp <= w.end);
    return `${nabTime(e.timestamp)},${value},${alerts.has(`${i}:${metric}`) ? 1 : 0},${inside ? 1 : 0}`;
  });
  return `timestamp,value,anomaly_score,label\n${rows.join('\n')}\n`;
}

/**
 * Writes one file's results where NAB looks for them: <dir>/<category>/<detector>_<file>.csv, the
 * detector being the directory's own name (NAB: results/<detector>/...) and <category>/<file> the
 * file's path relative to the corpus directory given (NAB: data/<category>/<file>).
 */
export function exportNabResult(dir: string, key: string, events: readonly LabelledEvent[], alerts: Flags, windows: readonly Window[]): void {
  const detector = basename(dir);
  const path = join(dir, dirname(key), `${detector}_${basename(key)}`);
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, nabResultCsv(events, alerts, windows));
  } catch (error) {
    throw fileProblem(path, error);
  }
}
