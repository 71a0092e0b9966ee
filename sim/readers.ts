import { parseTimestamp } from '../shared/schemas/time.js';
import { CommandFailure } from './options.js';
import type { AnomalyKind, LabelledEvent } from './signals.js';

/** Input the tools cannot use; its message names the line or the window. */
export class InputError extends CommandFailure {
  override readonly name = 'InputError';
}

/** The simulator's output: one JSON event per line, with `labels` per metric. */
export function readLabelledStream(text: string): LabelledEvent[] {
  const events: LabelledEvent[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let event: LabelledEvent;
    try {
      event = JSON.parse(line) as LabelledEvent;
    } catch {
      throw new InputError(`line ${i + 1}: not JSON`);
    }
    if (typeof event.device_id !== 'string' || typeof event.timestamp !== 'number' || typeof event.metrics !== 'object' || typeof event.labels !== 'object') {
      throw new InputError(`line ${i + 1}: expected {device_id, timestamp, metrics, labels}`);
    }
    events.push(event);
  });
  return events;
}

const TRUE = new Set(['1', 'true', 'yes', 'anomaly', 'anomalous']);
const FALSE = new Set(['0', 'false', 'no', 'normal', '']);

/**
 * A CSV file of one series: `timestamp,value[,label]`, with or without a header line. Timestamps are
 * ISO-8601 or Unix time (seconds, or ms above 1e12); labels 1/0, true/false, anomaly/normal. Without a
 * label column every label is null (unknown) until label windows are applied.
 */
export function readCsv(text: string, device = 'csv', metric = 'value'): LabelledEvent[] {
  const now = Date.now();
  const events: LabelledEvent[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const [rawTime = '', rawValue = '', rawLabel] = line.split(',').map((c) => c.trim());
    const timestamp = parseTimestamp(/^\d+(\.\d+)?$/.test(rawTime) ? Number(rawTime) : rawTime, now);
    // A first line whose time and value both fail to parse is a header.
    if (i === 0 && typeof timestamp === 'string' && Number.isNaN(Number(rawValue))) return;
    if (typeof timestamp === 'string') throw new InputError(`line ${i + 1}: timestamp ${timestamp}`);
    const value = Number(rawValue);
    if (rawValue === '' || !Number.isFinite(value)) throw new InputError(`line ${i + 1}: value "${rawValue}" is not a number`);
    let label: AnomalyKind | null | undefined;
    if (rawLabel !== undefined) {
      const l = rawLabel.toLowerCase();
      if (TRUE.has(l)) label = 'labelled';
      else if (FALSE.has(l)) label = null;
      else throw new InputError(`line ${i + 1}: label "${rawLabel}" is not one of 1/0, true/false, anomaly/normal`);
    }
    events.push({ device_id: device, timestamp, metrics: { [metric]: value }, labels: label === undefined ? {} : { [metric]: label } });
  });
  return events;
}

export interface Window {
  start: number;
  end: number;
}

/** Anomaly windows as JSON: `[{"start": ..., "end": ...}]`, ISO-8601 or Unix times, ends included. */
export function readWindows(text: string): Window[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new InputError('label windows: not JSON');
  }
  if (!Array.isArray(raw)) throw new InputError('label windows: expected an array of {start, end}');
  return raw.map((w: { start?: unknown; end?: unknown }, i) => {
    const start = parseTimestamp(w?.start, Number.MAX_SAFE_INTEGER);
    const end = parseTimestamp(w?.end, Number.MAX_SAFE_INTEGER);
    if (typeof start === 'string' || typeof end === 'string') throw new InputError(`label window ${i}: start and end must be times`);
    if (end < start) throw new InputError(`label window ${i}: ends before it starts`);
    return { start, end };
  });
}

/** Labels every value of every event: anomalous inside a window, normal outside. */
export function applyWindows(events: LabelledEvent[], windows: readonly Window[]): LabelledEvent[] {
  return events.map((e) => {
    const inside = windows.some((w) => e.timestamp >= w.start && e.timestamp <= w.end);
    return { ...e, labels: Object.fromEntries(Object.keys(e.metrics).map((m) => [m, inside ? 'labelled' : null])) };
  });
}
