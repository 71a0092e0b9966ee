import { readdirSync, statSync } from 'node:fs';
import { extname, join, relative, resolve, sep } from 'node:path';
import { type Node, type ParseError, getNodeValue, parseTree, printParseErrorCode } from 'jsonc-parser';
import { parseTimestamp } from '../shared/schemas/time.js';
import { CommandFailure, fileProblem } from './options.js';
import type { AnomalyKind, LabelledEvent } from './signals.js';
import type { Window } from './window-score.js';

export type { Window } from './window-score.js';

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

/** Anomaly windows as JSON: `[{"start": ..., "end": ...}]`, ISO-8601 or Unix times, ends included. */
export function readWindows(text: string): Window[] {
  const windows = readLabelWindows(text);
  if (!Array.isArray(windows)) throw new InputError('label windows: expected an array of {start, end}');
  return windows;
}

/** Windows per file, keyed by the file's path relative to the directory given (NAB's combined_windows.json). */
export type WindowMap = ReadonlyMap<string, Window[]>;

const lineOf = (text: string, offset: number) => text.slice(0, offset).split('\n').length;

function jsonTree(text: string): Node {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false });
  const error = errors[0];
  if (error || !root) {
    const reason = error ? printParseErrorCode(error.error).replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase() : 'empty';
    throw new InputError(`line ${lineOf(text, error?.offset ?? 0)}: not JSON (${reason})`);
  }
  return root;
}

/** One window: `{"start", "end"}` or `["start", "end"]`, ISO-8601 (UTC without an offset) or Unix times. */
function windowAt(text: string, node: Node, what: string): Window {
  const raw = getNodeValue(node) as unknown;
  const pair = Array.isArray(raw) ? raw : [(raw as { start?: unknown })?.start, (raw as { end?: unknown })?.end];
  const at = `line ${lineOf(text, node.offset)}: ${what}`;
  if (pair.length !== 2) throw new InputError(`${at}: expected ["start", "end"] or {"start", "end"}`);
  const start = parseTimestamp(pair[0], Number.MAX_SAFE_INTEGER);
  const end = parseTimestamp(pair[1], Number.MAX_SAFE_INTEGER);
  if (typeof start === 'string') throw new InputError(`${at}: start ${start}`);
  if (typeof end === 'string') throw new InputError(`${at}: end ${end}`);
  if (end < start) throw new InputError(`${at}: ends before it starts`);
  return { start, end };
}

function windowList(text: string, node: Node, owner: string): Window[] {
  if (node.type !== 'array') throw new InputError(`line ${lineOf(text, node.offset)}: ${owner}: expected an array of windows`);
  return (node.children ?? []).map((item, i) => windowAt(text, item, `${owner} window ${i + 1}`));
}

/**
 * Label windows: one series' `[{"start", "end"}]`, or a map of files to windows,
 * `{"dir/file.csv": [["start", "end"], ...]}` (NAB's combined_windows.json). A mistake names its line.
 */
export function readLabelWindows(text: string): Window[] | WindowMap {
  const root = jsonTree(text);
  if (root.type === 'array') return windowList(text, root, 'label');
  if (root.type !== 'object') {
    throw new InputError('line 1: expected an array of {start, end} or a map {"file": [["start", "end"], ...]}');
  }
  const map = new Map<string, Window[]>();
  for (const property of root.children ?? []) {
    const [key, value] = property.children as [Node, Node];
    map.set(key.value as string, windowList(text, value, JSON.stringify(key.value)));
  }
  return map;
}

/** A file to evaluate: its path, and its path relative to the directory it was found in (as given, if given itself). */
export interface InputFile {
  path: string;
  key: string;
}

const slashes = (path: string) => path.split(sep).join('/');

/** The windows of a file: its key, or else the longest key its path ends with; undefined if none. */
export function windowsOf(map: WindowMap, file: InputFile): Window[] | undefined {
  const exact = map.get(file.key);
  if (exact) return exact;
  const path = slashes(resolve(file.path));
  let best: string | undefined;
  for (const key of map.keys()) {
    const suffix = key.replace(/^(\.\/)+/, '');
    if (path.endsWith(`/${suffix}`) && suffix.length > (best?.length ?? -1)) best = key;
  }
  return best === undefined ? undefined : map.get(best);
}

const CORPUS_FILE = /\.(csv|jsonl)$/i;

function walk(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (error) {
    throw fileProblem(dir, error);
  }
  return entries
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : CORPUS_FILE.test(e.name) ? [join(dir, e.name)] : []));
}

/** The files to evaluate: files as given, and every *.csv and *.jsonl under a directory (recursively, in name order). */
export function corpusFiles(paths: readonly string[]): InputFile[] {
  const files = new Map<string, InputFile>();
  for (const path of paths) {
    let directory: boolean;
    try {
      directory = statSync(path).isDirectory();
    } catch (error) {
      throw fileProblem(path, error);
    }
    const found = directory ? walk(path).map((p) => ({ path: p, key: slashes(relative(path, p)) })) : [{ path, key: slashes(path) }];
    if (found.length === 0) throw new InputError(`${path}: no .csv or .jsonl files in it`);
    for (const file of found) if (!files.has(resolve(file.path))) files.set(resolve(file.path), file);
  }
  return [...files.values()];
}

/** Whether a file is a CSV series (else the simulator's JSON lines). */
export const isCsv = (path: string) => extname(path).toLowerCase() === '.csv';

/** Labels every value of every event: anomalous inside a window, normal outside. */
export function applyWindows(events: LabelledEvent[], windows: readonly Window[]): LabelledEvent[] {
  return events.map((e) => {
    const inside = windows.some((w) => e.timestamp >= w.start && e.timestamp <= w.end);
    return { ...e, labels: Object.fromEntries(Object.keys(e.metrics).map((m) => [m, inside ? 'labelled' : null])) };
  });
}
