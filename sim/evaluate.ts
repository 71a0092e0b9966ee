// npm run evaluate -- <file> [--labels windows.json] [--sweep 1.5,2,2.5,3] [--charts dir]
// Replays a labelled stream (the simulator's JSON lines, or a CSV series) through the real service and
// prints precision, recall, F1, false-positive rate and accuracy per metric and overall.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../shared/config.js';
import { renderChart } from './chart.js';
import { InputError, applyWindows, readCsv, readLabelledStream, readWindows } from './readers.js';
import { type DetectorSettings, type Evaluation, chartSeries, evaluate, evaluationRedis, replay } from './replay.js';

const { values: options, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    labels: { type: 'string' },
    sweep: { type: 'string' },
    charts: { type: 'string' },
    'charts-limit': { type: 'string', default: '12' },
    json: { type: 'boolean', default: false },
  },
});

const file = positionals[0];
if (!file) {
  console.error('usage: npm run evaluate -- <stream.jsonl | series.csv> [--labels windows.json] [--sweep 1.5,2,3] [--charts dir] [--json]');
  process.exit(2);
}

// The detector settings in force, from the same environment variables as the service.
const config = loadConfig(process.env);
const base: DetectorSettings = { windowSize: config.windowSize, zThreshold: config.zThreshold, minSamples: config.minSamples };

let events;
try {
  const text = readFileSync(file, 'utf8');
  events = extname(file) === '.csv' ? readCsv(text, 'csv', basename(file, '.csv').replace(/[^a-z0-9_]/gi, '_').toLowerCase().replace(/^[^a-z]+/, '') || 'value') : readLabelledStream(text);
  if (options.labels) events = applyWindows(events, readWindows(readFileSync(options.labels, 'utf8')));
} catch (error) {
  console.error(error instanceof InputError ? `${file}: ${error.message}` : String(error));
  process.exit(1);
}

const thresholds = [base.zThreshold, ...(options.sweep ?? '').split(',').filter(Boolean).map(Number).filter((t) => t !== base.zThreshold)];
execFileSync('npm', ['run', '--silent', 'build'], { stdio: ['ignore', 'ignore', 'inherit'] });
const redis = await evaluationRedis();
const results: Array<{ settings: DetectorSettings; evaluation: Evaluation }> = [];
try {
  for (const zThreshold of thresholds) {
    const settings = { ...base, zThreshold };
    const flags = await replay(events, settings, redis.url);
    results.push({ settings, evaluation: evaluate(events, flags) });
    if (options.charts && zThreshold === base.zThreshold) {
      mkdirSync(options.charts, { recursive: true });
      for (const series of chartSeries(events, flags, settings).slice(0, Number(options['charts-limit']))) {
        const path = join(options.charts, `${series.title.replace(/[^A-Za-z0-9_.-]+/g, '_')}.svg`);
        writeFileSync(path, renderChart(series));
        console.error(`chart: ${path}`);
      }
    }
  }
} finally {
  await redis.stop();
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`.padStart(7);
if (options.json) {
  console.log(JSON.stringify({ file, events: events.length, results }, null, 2));
} else {
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
