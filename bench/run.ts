// npm run bench [-- --quick]: every path against the framework's own ceiling, in one run so ratios hold.
// Starts its own redis-server and function processes (functions-framework serving dist/) on loopback.
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { parseCommandLine, runCommand } from '../support/cli.js';
import { startRedis } from '../support/servers.js';
import { type CaseResults, runCases, workloads } from './cases.js';
import { type Durations, Harness, log } from './harness.js';
import { type BenchResult, type Target, checkSection, renderSummary, writeResult, writeSection } from './report.js';
import { evaluateTargets, logTargets } from './targets.js';

const SECTION = 'bench:summary';

const { values } = parseCommandLine({
  usage: 'npm run bench -- [options]',
  summary: [
    'Measures every path of the service against a bare functions-framework function, in one run on this machine.',
    'Builds dist/, starts its own redis-server and function processes on loopback; about 13 minutes.',
    'Writes bench/results/<date>.json and the summary between the bench:summary markers of BENCHMARKS.md.',
  ].join('\n'),
  options: {
    quick: {
      type: 'boolean',
      doc: '3 s per case and a 10 s memory run (about 4 minutes); writes bench/results/<date>-quick.json, leaves BENCHMARKS.md alone',
    },
  },
  examples: ['npm run bench -- --quick', 'npm run bench'],
});

function durations(quick: boolean): Durations {
  return { seconds: quick ? 3 : 10, warmup: quick ? 1 : 3, soakSeconds: quick ? 10 : 60 };
}

/** Writes the raw figures, and for a full run the summary in BENCHMARKS.md. */
function save(quick: boolean, h: Harness, results: CaseResults, targets: Target[]): void {
  const result: BenchResult = {
    date: new Date().toISOString(),
    quick,
    machine: { cores: cpus().length, model: cpus()[0]?.model, memory_gib: Math.round(totalmem() / 2 ** 30), node: process.version },
    seconds_per_case: h.durations.seconds,
    rows: h.rows,
    rss_mb: h.rss,
    profiles: results.profiles,
    targets,
  };
  const file = writeResult(`${result.date.slice(0, 10)}${quick ? '-quick' : ''}.json`, result);
  if (!quick) writeSection(SECTION, renderSummary(result, file));
  log(`results: ${file}${quick ? '' : ' and BENCHMARKS.md'}`);
}

async function bench(quick: boolean): Promise<void> {
  // A full run ends by writing BENCHMARKS.md: refuse at once, not after six minutes, if it cannot.
  if (!quick) checkSection(SECTION);
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  const redis = await startRedis();
  const h = new Harness(durations(quick), redis.url);
  try {
    const w = workloads();
    log(`bench ${quick ? '(quick) ' : ''}— ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}, ${h.durations.seconds} s per case`);
    const results = await runCases(h, w);
    const targets = evaluateTargets(h.rows, h.rss, results);
    logTargets(targets, results);
    save(quick, h, results, targets);
  } finally {
    await h.close();
    await redis.stop();
  }
}

await runCommand(() => bench(values.quick ?? false));
