// npm run evaluate: replays labelled streams through the real service and scores its flags and alerts against the labels.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configFromEnvOrExit } from '../shared/config/load.js';
import { type DetectorParams, detectorParams } from '../shared/detector/params.js';
import { parseCommandLine, usageError } from '../support/cli.js';
import { renderChart } from './chart.js';
import { exportNabResult } from './nab-export.js';
import { offlineDetections } from './offline.js';
import { CommandFailure, count, fileProblem, positiveList, runCommand } from './options.js';
import {
  type InputFile,
  InputError,
  type Window,
  type WindowMap,
  applyWindows,
  corpusFiles,
  isCsv,
  readCsv,
  readLabelWindows,
  readLabelledStream,
  windowsOf,
} from './readers.js';
import { type Detections, type Evaluation, type Flags, chartSeries, evaluate, evaluationRedis, mergeEvaluations, replayDetections, windowSeries } from './replay.js';
import type { Scores } from './scoring.js';
import type { LabelledEvent } from './signals.js';
import { PROFILE_NAMES, type ProfileScores, addProfileScores, scoreProfiles } from './window-score.js';

const root = fileURLToPath(new URL('../', import.meta.url));

const { values: o, positionals } = parseCommandLine({
  usage: 'npm run evaluate -- <file | directory>... [options]',
  summary: [
    "Replays labelled streams (the simulator's JSON lines, or CSV series timestamp,value[,label]; a directory stands for",
    'every *.csv and *.jsonl under it) through an ingest process of the built service (npm run build is run first) and a',
    'Redis of their own, one file after the other, and prints per file and overall precision, recall, F1 and false-positive',
    "rate, and NAB scores (Numenta Anomaly Benchmark: standard, reward low FP, reward low FN) of the service's flags and of",
    'its alerts; then per metric, per kind of anomaly and per --sweep threshold. The detector takes its parameters',
    '(DETECTOR_PROFILE, WINDOW_SIZE, Z_THRESHOLD, MIN_SAMPLES, EPISODE_*, ...) from the environment, as the service does.',
  ].join('\n'),
  positionals: true,
  options: {
    labels: {
      type: 'string',
      arg: 'windows.json',
      doc: `anomaly windows: [{"start", "end"}] for one file, or {"dir/file.csv": [["start", "end"], ...]} for many (NAB's combined_windows.json); ISO-8601 or Unix times`,
    },
    sweep: { type: 'string', arg: 't1,t2,...', doc: 'also score these thresholds' },
    charts: { type: 'boolean', doc: 'write an SVG chart per series: values, rolling average, ±threshold·σ band, flags, labels' },
    'charts-dir': { type: 'string', arg: 'dir', default: 'out/charts', doc: 'where --charts writes (created if missing)' },
    'charts-limit': { type: 'string', arg: 'n', default: '12', doc: 'chart at most this many series' },
    'skip-build': { type: 'boolean', doc: 'replay through dist/ as it is, without npm run build first' },
    json: { type: 'boolean', doc: 'print the results as JSON' },
    offline: {
      type: 'boolean',
      doc: "run the detector's TypeScript reference in this process instead (no build, no Redis, no service): each series from a fresh state, one value per row in order, the rows' times as event times; the same report, in seconds",
    },
    'export-nab': {
      type: 'string',
      arg: 'dir',
      doc: "write the alerts of the first run in NAB's results layout, <dir>/<category>/<detector>_<file>.csv with the detector named after <dir>, for NAB's own scorer",
    },
  },
  examples: [
    'npm run evaluate -- out/stream.jsonl --sweep 1.5,2.5,3 --charts',
    'npm run evaluate -- NAB/data --labels NAB/labels/combined_windows.json',
    'npm run evaluate -- series.csv --labels windows.json --charts --charts-dir out/series',
    'Z_THRESHOLD=3 WINDOW_SIZE=100 npm run evaluate -- out/a.jsonl out/b.jsonl --json',
    'DETECTOR_PROFILE=infra npm run evaluate -- out/infra.jsonl',
    'npm run evaluate -- out/nab/data --labels out/nab/labels/combined_windows.json --offline',
    'BASELINE_SPIKE_Z=0 npm run evaluate -- out/nab/data --labels out/nab/labels/combined_windows.json --offline',
    'npm run evaluate -- out/nab/data --labels out/nab/labels/combined_windows.json --offline --export-nab out/nab-results/iotAlerts',
  ],
});

if (positionals.length === 0) usageError('give the files to evaluate: streams of JSON lines, CSV series, or directories of them');
const sweep = o.sweep === undefined ? [] : positiveList('sweep', o.sweep);
const chartsDir = o['charts-dir'] ?? '';
if (chartsDir === '') usageError('--charts-dir must not be empty');
let chartsLeft = count('charts-limit', o['charts-limit']);
const exportDir = o['export-nab'];
if (exportDir === '') usageError('--export-nab must not be empty');

// The detector's parameters in force, from the same environment variables as the service (a bad one: one line, exit 1).
const base = detectorParams(configFromEnvOrExit());

/** Parses one input file; a mistake in it is reported with the file's name and the line. */
function readInputFile<T>(path: string, parse: (text: string) => T): T {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw fileProblem(path, error);
  }
  try {
    return parse(text);
  } catch (error) {
    throw error instanceof InputError ? new InputError(`${path}: ${error.message}`) : error;
  }
}

/** One file to replay: its events, labelled, and its anomaly windows when the labels give them. */
interface Input {
  file: string;
  /** Its path relative to the directory it was found in (NAB: category/file.csv). */
  key: string;
  events: LabelledEvent[];
  windows: Window[] | undefined;
}

/** A CSV series' metric: its file name as a metric name. */
const metricOf = (path: string) => basename(path, extname(path)).replace(/[^a-z0-9_]/gi, '_').toLowerCase().replace(/^[^a-z]+/, '') || 'value';

function readInput(file: InputFile, labels: Window[] | WindowMap | undefined): Input {
  const csv = isCsv(file.path);
  let events = readInputFile(file.path, (text) => (csv ? readCsv(text, 'csv', metricOf(file.path)) : readLabelledStream(text)));
  const windows = labels === undefined || Array.isArray(labels) ? labels : windowsOf(labels, file);
  if (windows) events = applyWindows(events, windows);
  if (events.length === 0) throw new InputError(`${file.path}: no events`);
  if (!events.some((e) => Object.keys(e.labels).length > 0)) {
    throw new InputError(`${file.path}: no labelled values to score: give labels (a label column, or --labels with its windows)`);
  }
  return { file: file.path, key: file.key, events, windows };
}

/** Every file, read and checked before anything is replayed. */
function readCorpus(): Input[] {
  const files = corpusFiles(positionals);
  const labels = o.labels === undefined ? undefined : readInputFile(o.labels, readLabelWindows);
  if (Array.isArray(labels) && files.length > 1) {
    usageError(`--labels ${o.labels} holds the windows of one series, and there are ${files.length} files: give a map {"file": [["start", "end"], ...]}`);
  }
  return files.map((file) => readInput(file, labels));
}

function build(): void {
  if (o['skip-build']) return;
  try {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  } catch {
    throw new CommandFailure('npm run build failed (its errors are above); evaluate replays through the built service');
  }
}

function writeCharts(input: Input, found: Detections, settings: DetectorParams, prefix: string): void {
  try {
    mkdirSync(chartsDir, { recursive: true });
  } catch (error) {
    throw fileProblem(chartsDir, error);
  }
  const context = { profile: configFromEnvOrExit().detectorProfile, ...(input.windows ? { windows: input.windows } : {}) };
  for (const series of chartSeries(input.events, found, settings, context).slice(0, chartsLeft)) {
    chartsLeft--;
    const path = join(chartsDir, `${(prefix + series.title).replace(/[^A-Za-z0-9_.-]+/g, '_')}.svg`);
    try {
      writeFileSync(path, renderChart({ ...series, file: input.file }));
    } catch (error) {
      throw fileProblem(path, error);
    }
    console.error(`chart: ${path}`);
  }
}

/** NAB scores of the flags (every flagged value a detection) and of the alerts (episode openings). */
interface Nab {
  flags: ProfileScores;
  alerts: ProfileScores;
}

interface FileResult {
  file: string;
  events: number;
  evaluation: Evaluation;
  nab: Nab;
}

interface Result extends FileResult {
  settings: DetectorParams;
  files: FileResult[];
}

function scoreFile(input: Input, found: Detections): FileResult {
  const nab = (detections: Flags) => scoreProfiles(windowSeries(input.events, detections, input.windows));
  return { file: input.file, events: input.events.length, evaluation: evaluate(input.events, found.flags), nab: { flags: nab(found.flags), alerts: nab(found.alerts) } };
}

/** The corpus as a whole: counts added up over the files, NAB's raw scores summed before normalising. */
function combine(settings: DetectorParams, files: FileResult[]): Result {
  return {
    settings,
    file: 'all files',
    events: files.reduce((sum, f) => sum + f.events, 0),
    evaluation: mergeEvaluations(files.map((f) => f.evaluation)),
    nab: { flags: addProfileScores(files.map((f) => f.nab.flags)), alerts: addProfileScores(files.map((f) => f.nab.alerts)) },
    files,
  };
}

/** How one run finds what the detector says about a file: through the service, or offline. */
type Detect = (input: Input, settings: DetectorParams) => Promise<Detections>;

/** Replays every file with one setting of the detector, each with a fresh state (NAB: files are independent). */
async function runSettings(inputs: readonly Input[], settings: DetectorParams, detect: Detect, first: boolean): Promise<Result> {
  const files: FileResult[] = [];
  for (const [i, input] of inputs.entries()) {
    console.error(`[${i + 1}/${inputs.length}] ${input.file}: ${input.events.length} events, threshold ${settings.zThreshold}`);
    const found = await detect(input, settings);
    files.push(scoreFile(input, found));
    if (first && o.charts) writeCharts(input, found, settings, inputs.length > 1 ? `${input.file} ` : '');
    if (first && exportDir !== undefined) exportNabResult(exportDir, input.key, input.events, found.alerts, input.windows ?? []);
  }
  return combine(settings, files);
}

/** Runs the corpus once per threshold (the configured one first) with `detect`, and scores each run. */
async function runThresholds(inputs: readonly Input[], detect: Detect): Promise<Result[]> {
  const results: Result[] = [];
  for (const zThreshold of [...new Set([base.zThreshold, ...sweep])]) {
    results.push(await runSettings(inputs, { ...base, zThreshold }, detect, results.length === 0));
  }
  return results;
}

/** Scores every threshold: offline in this process, or replayed through the built service and a Redis of its own. */
async function scoreAll(inputs: readonly Input[]): Promise<Result[]> {
  if (o.offline) {
    return runThresholds(inputs, async (input, settings) => offlineDetections(input.events, settings));
  }
  build();
  const redis = await evaluationRedis();
  try {
    return await runThresholds(inputs, (input, settings) => replayDetections(input.events, settings, redis.url));
  } finally {
    await redis.stop();
  }
}

const pct = (x: number, width = 8) => `${(100 * x).toFixed(1)}%`.padStart(width);
const nabCells = (p: ProfileScores) => PROFILE_NAMES.map((name) => (p[name].score?.toFixed(1) ?? '—').padStart(9)).join('');
const NAB_HEADER = ['standard', 'low FP', 'low FN'].map((h) => h.padStart(9)).join('');

function fileRow(r: FileResult, width: number): string {
  const s: Scores = r.evaluation.overall;
  return `${r.file.padEnd(width)}${String(r.events).padStart(8)}${pct(s.precision, 11)}${pct(s.recall)}${pct(s.f1)}${pct(s.fpr)}  ${nabCells(r.nab.flags)}  ${nabCells(r.nab.alerts)}`;
}

/** One row per file and one for all of them, with the NAB scores of flags and alerts side by side. */
function printFiles(r: Result): void {
  const width = Math.max(...[r, ...r.files].map((f) => f.file.length)) + 2;
  const head = `${'file'.padEnd(width)}${'events'.padStart(8)}${'precision'.padStart(11)}${'recall'.padStart(8)}${'F1'.padStart(8)}${'FPR'.padStart(8)}`;
  console.log(`${' '.repeat(head.length)}  ${'NAB score of flags'.padStart(27)}  ${'NAB score of alerts'.padStart(27)}`);
  console.log(`${head}  ${NAB_HEADER}  ${NAB_HEADER}`);
  for (const f of [...r.files, r]) console.log(fileRow(f, width));
  console.log('NAB: 100 = every anomaly window detected at its start and no false positive, 0 = never alerting;');
  console.log('"all files" sums the raw scores over the files, then normalises.');
}

/**
 * What an operator sees of the alerts: labelled windows they caught, alerts outside any window per
 * normal reading, and the alerts of a new series while it is on probation (not scored, but paged).
 */
function printAlerts(r: Result): void {
  const width = Math.max(...[r, ...r.files].map((f) => f.file.length)) + 2;
  console.log(`\n${'alerts'.padEnd(width)}${'windows detected'.padStart(18)}${'false alerts'.padStart(14)}${'per normal reading'.padStart(20)}${'on probation, per series'.padStart(26)}`);
  for (const f of [...r.files, r]) {
    const a = f.nab.alerts.standard;
    const normal = f.evaluation.overall.tn + f.evaluation.overall.fp;
    const windows = a.windows === 0 ? '—' : `${a.detectedWindows}/${a.windows} ${pct(a.detectedWindows / a.windows, 6)}`;
    const early = a.series === 0 ? '—' : (a.probationDetections / a.series).toFixed(1);
    console.log(`${f.file.padEnd(width)}${windows.padStart(18)}${String(a.fp).padStart(14)}${(normal === 0 ? '—' : `${(100 * a.fp / normal).toFixed(3)}%`).padStart(20)}${early.padStart(26)}`);
  }
  console.log('on probation: the first 15% of each series (at most 750 values), which NAB does not score.');
}

function printMetrics(e: Evaluation): void {
  console.log('\nmetric      precision  recall      F1     FPR  accuracy      TP      FP      FN       TN');
  for (const [name, s] of [...Object.entries(e.perMetric), ['overall', e.overall] as const]) {
    console.log(`${name.padEnd(10)} ${pct(s.precision, 7)}  ${pct(s.recall, 7)} ${pct(s.f1, 7)} ${pct(s.fpr, 7)}   ${pct(s.accuracy, 7)} ${String(s.tp).padStart(7)} ${String(s.fp).padStart(7)} ${String(s.fn).padStart(7)} ${String(s.tn).padStart(8)}`);
  }
  console.log('\nrecall by kind of anomaly');
  for (const [kind, k] of Object.entries(e.perKind)) console.log(`${kind.padEnd(12)} ${pct(k.recall, 7)}  (${k.flagged} of ${k.labelled} values)`);
}

function printSweep(results: readonly Result[]): void {
  console.log('\nthreshold sweep (all files)\nthreshold  precision  recall      F1     FPR  accuracy  NAB standard');
  for (const r of [...results].sort((a, b) => a.settings.zThreshold - b.settings.zThreshold)) {
    const s = r.evaluation.overall;
    const nab = r.nab.flags.standard.score?.toFixed(1) ?? '—';
    console.log(`${String(r.settings.zThreshold).padEnd(9)} ${pct(s.precision, 7)}  ${pct(s.recall, 7)} ${pct(s.f1, 7)} ${pct(s.fpr, 7)}   ${pct(s.accuracy, 7)}  ${nab.padStart(12)}`);
  }
}

function printReport(results: readonly Result[]): void {
  const first = results[0]!;
  const what = first.files.length === 1 ? `${first.files[0]!.file}:` : `${first.files.length} files,`;
  const how = o.offline ? '; offline (the reference)' : '';
  console.log(`${what} ${first.events} events; W=${base.windowSize}, threshold=${base.zThreshold}, min samples=${base.minSamples}, episodes on ${base.episodeTrigger}${how}\n`);
  printFiles(first);
  printAlerts(first);
  printMetrics(first.evaluation);
  if (results.length > 1) printSweep(results);
}

await runCommand(async () => {
  const inputs = readCorpus();
  const results = await scoreAll(inputs);
  if (o.json) console.log(JSON.stringify({ files: inputs.map((i) => ({ file: i.file, events: i.events.length })), events: results[0]!.events, results }, null, 2));
  else printReport(results);
});
