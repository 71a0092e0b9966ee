// npm run evaluate: replays a labelled stream through the real service and scores its flags against the labels.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configFromEnvOrExit } from '../shared/config/load.js';
import { type DetectorParams, detectorParams } from '../shared/detector/params.js';
import { parseCommandLine, usageError } from '../support/cli.js';
import { renderChart } from './chart.js';
import { CommandFailure, count, fileProblem, positiveList, runCommand } from './options.js';
import { InputError, applyWindows, readCsv, readLabelledStream, readWindows } from './readers.js';
import { type Evaluation, type Flags, chartSeries, evaluate, evaluationRedis, replay } from './replay.js';
import type { LabelledEvent } from './signals.js';

const root = fileURLToPath(new URL('../', import.meta.url));

const { values: o, positionals } = parseCommandLine({
  usage: 'npm run evaluate -- <stream.jsonl | series.csv> [options]',
  summary: [
    "Replays a labelled stream (the simulator's JSON lines, or a CSV series timestamp,value[,label]) through an ingest",
    'process of the built service (npm run build is run first) and a Redis of its own, and prints precision, recall,',
    'F1, false-positive rate and accuracy per metric and overall, and recall per kind of anomaly. The detector takes',
    'WINDOW_SIZE, Z_THRESHOLD and MIN_SAMPLES from the environment, as the service does.',
  ].join('\n'),
  positionals: true,
  options: {
    labels: { type: 'string', arg: 'windows.json', doc: 'label a series from anomaly windows: [{"start", "end"}], ISO-8601 or Unix times' },
    sweep: { type: 'string', arg: 't1,t2,...', doc: 'also score these thresholds' },
    charts: { type: 'boolean', doc: 'write an SVG chart per series: values, rolling average, ±threshold·σ band, flags, labels' },
    'charts-dir': { type: 'string', arg: 'dir', default: 'out/charts', doc: 'where --charts writes (created if missing)' },
    'charts-limit': { type: 'string', arg: 'n', default: '12', doc: 'chart at most this many series' },
    json: { type: 'boolean', doc: 'print the results as JSON' },
  },
  examples: [
    'npm run evaluate -- out/stream.jsonl --sweep 1.5,2.5,3 --charts',
    'npm run evaluate -- series.csv --labels windows.json --charts --charts-dir out/series',
    'Z_THRESHOLD=3 WINDOW_SIZE=100 npm run evaluate -- out/stream.jsonl --json',
  ],
});

if (positionals.length !== 1) {
  usageError(positionals.length === 0 ? 'give the file to evaluate: a stream of JSON lines or a CSV series' : `one file at a time (got ${positionals.join(', ')})`);
}
const file = positionals[0]!;
const sweep = o.sweep === undefined ? [] : positiveList('sweep', o.sweep);
const chartsLimit = count('charts-limit', o['charts-limit']);
const chartsDir = o['charts-dir'] ?? '';
if (chartsDir === '') usageError('--charts-dir must not be empty');

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

function readEvents(): LabelledEvent[] {
  const metric = basename(file, extname(file)).replace(/[^a-z0-9_]/gi, '_').toLowerCase().replace(/^[^a-z]+/, '') || 'value';
  const csv = extname(file).toLowerCase() === '.csv';
  let events = readInputFile(file, (text) => (csv ? readCsv(text, 'csv', metric) : readLabelledStream(text)));
  if (o.labels) events = applyWindows(events, readInputFile(o.labels, readWindows));
  if (events.length === 0) throw new InputError(`${file}: no events`);
  if (!events.some((e) => Object.keys(e.labels).length > 0)) {
    throw new InputError(`${file}: no labelled values to score: give labels (a label column, or --labels windows.json)`);
  }
  return events;
}

function build(): void {
  try {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  } catch {
    throw new CommandFailure('npm run build failed (its errors are above); evaluate replays through the built service');
  }
}

function writeCharts(events: readonly LabelledEvent[], flags: Flags, settings: DetectorParams): void {
  try {
    mkdirSync(chartsDir, { recursive: true });
  } catch (error) {
    throw fileProblem(chartsDir, error);
  }
  for (const series of chartSeries(events, flags, settings).slice(0, chartsLimit)) {
    const path = join(chartsDir, `${series.title.replace(/[^A-Za-z0-9_.-]+/g, '_')}.svg`);
    try {
      writeFileSync(path, renderChart(series));
    } catch (error) {
      throw fileProblem(path, error);
    }
    console.error(`chart: ${path}`);
  }
}

interface Result {
  settings: DetectorParams;
  evaluation: Evaluation;
}

/** Replays the events once per threshold (the configured one first) and scores each run. */
async function scoreAll(events: readonly LabelledEvent[]): Promise<Result[]> {
  const thresholds = [...new Set([base.zThreshold, ...sweep])];
  build();
  const redis = await evaluationRedis();
  const results: Result[] = [];
  try {
    for (const zThreshold of thresholds) {
      const settings: DetectorParams = { ...base, zThreshold };
      const flags = await replay(events, settings, redis.url);
      results.push({ settings, evaluation: evaluate(events, flags) });
      if (o.charts && zThreshold === base.zThreshold) writeCharts(events, flags, settings);
    }
  } finally {
    await redis.stop();
  }
  return results;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`.padStart(7);

function printReport(events: readonly LabelledEvent[], results: readonly Result[]): void {
  const first = results[0]!;
  console.log(`${file}: ${events.length} events; W=${base.windowSize}, threshold=${base.zThreshold}, min samples=${base.minSamples}`);
  console.log('metric      precision  recall      F1     FPR  accuracy      TP      FP      FN       TN');
  for (const [name, s] of [...Object.entries(first.evaluation.perMetric), ['overall', first.evaluation.overall] as const]) {
    console.log(`${name.padEnd(10)} ${pct(s.precision)}  ${pct(s.recall)} ${pct(s.f1)} ${pct(s.fpr)}   ${pct(s.accuracy)} ${String(s.tp).padStart(7)} ${String(s.fp).padStart(7)} ${String(s.fn).padStart(7)} ${String(s.tn).padStart(8)}`);
  }
  console.log('\nrecall by kind of anomaly');
  for (const [kind, k] of Object.entries(first.evaluation.perKind)) {
    console.log(`${kind.padEnd(12)} ${pct(k.recall)}  (${k.flagged} of ${k.labelled} values)`);
  }
  if (results.length > 1) {
    console.log('\nthreshold sweep (overall)\nthreshold  precision  recall      F1     FPR  accuracy');
    for (const r of [...results].sort((a, b) => a.settings.zThreshold - b.settings.zThreshold)) {
      const s = r.evaluation.overall;
      console.log(`${String(r.settings.zThreshold).padEnd(9)} ${pct(s.precision)}  ${pct(s.recall)} ${pct(s.f1)} ${pct(s.fpr)}   ${pct(s.accuracy)}`);
    }
  }
}

await runCommand(async () => {
  const events = readEvents();
  const results = await scoreAll(events);
  if (o.json) console.log(JSON.stringify({ file, events: events.length, results }, null, 2));
  else printReport(events, results);
});
