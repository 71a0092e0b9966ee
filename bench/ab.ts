// A/B in one run: the ingest function of another build (AB_BASE, a built checkout) against this one, on
// one Redis, the bench's single-event and batch loads, then GET /analyze of the analyze function over what
// each side wrote, alternating A B / B A per round. The detection
// issue's cost target is measured this way against the commit before the detection (BENCHMARKS.md,
// "Round 6" has the steps). Env: AB_BASE (required), ROUNDS (3), SECONDS (10), EXTRA (JSON env for both
// sides, e.g. a profile), EXTRA_A / EXTRA_B (JSON env for one side: the same build under two settings when
// AB_BASE is this checkout), LOADS (comma-separated load names to keep).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Harness, log } from './harness.js';
import { type BodyRequest, closedLoop } from './load.js';
import { round } from './report.js';
import { batches, singleEvents } from './workload.js';
import { parseCommandLine } from '../support/cli.js';
import { startRedis } from '../support/servers.js';

parseCommandLine({
  usage: 'AB_BASE=<built checkout> npm run bench:ab',
  summary: [
    'The ingest function of another build (A: AB_BASE) against this one (B), on one Redis, with the bench\'s single-event',
    'and batch loads and GET /analyze (the analyze function over what each side wrote), alternating A B / B A per round;',
    'prints B / A of throughput and of Redis CPU per event per round (BENCHMARKS.md, Round 6).',
  ].join('\n'),
  options: {},
  environment: {
    AB_BASE: 'required: a built checkout (with dist/functions/index.js); this checkout itself to compare two settings',
    ROUNDS: 'rounds of every load (default: 3)',
    SECONDS: 'seconds per measurement (default: 10)',
    EXTRA: 'JSON object of environment variables for both sides, e.g. a profile',
    EXTRA_A: 'JSON object of environment variables for side A only',
    EXTRA_B: 'JSON object of environment variables for side B only',
    LOADS: "comma-separated loads to keep: 'single', 'batch 1000 devices', 'batch 10 devices', 'analyze' (default: all)",
  },
  examples: ['npm run build && AB_BASE=../ab-base npm run bench:ab', 'AB_BASE=. EXTRA_B=\'{"Z_THRESHOLD":"4"}\' LOADS=single npm run bench:ab'],
});

const base = process.env.AB_BASE;
if (!base || !existsSync(join(base, 'dist/functions/index.js'))) {
  process.stderr.write('AB_BASE must name a built checkout (dist/functions/index.js); see BENCHMARKS.md, Round 6 (and --help)\n');
  process.exit(2);
}
const rounds = Number(process.env.ROUNDS ?? 3);
const seconds = Number(process.env.SECONDS ?? 10);
const env = (name: string) => JSON.parse(process.env[name] ?? '{}') as Record<string, string>;
const extra = { A: { ...env('EXTRA'), ...env('EXTRA_A') }, B: { ...env('EXTRA'), ...env('EXTRA_B') } };
const only = process.env.LOADS?.split(',');
// The reads (target analyze) come last: they read what the ingest loads wrote, each side its own keys.
type Load = { name: string; reqs: BodyRequest[]; per: number; conns: number; target: 'ingest' | 'analyze' };
const every: Load[] = [
  { name: 'single', reqs: singleEvents('/ingest', 1000), per: 1, conns: 32, target: 'ingest' },
  { name: 'batch 1000 devices', reqs: batches('/ingest/batch', 1000, 1000), per: 1000, conns: 4, target: 'ingest' },
  { name: 'batch 10 devices', reqs: batches('/ingest/batch', 1000, 10, 20, 4), per: 1000, conns: 4, target: 'ingest' },
  { name: 'analyze', reqs: Array.from({ length: 100 }, (_, i) => ({ method: 'GET', path: `/analyze?device=device-${i * 7}` })), per: 1, conns: 32, target: 'analyze' },
];
const loads = every.filter((l) => !only || only.includes(l.name));

const redis = await startRedis();
const h = new Harness({ seconds, warmup: 3, soakSeconds: 0 }, redis.url);
try {
  const reads = loads.some((l) => l.target === 'analyze');
  const start = async (side: 'A' | 'B') => {
    const options = side === 'A' ? { source: base } : undefined;
    const ingest = await h.start('ingest', h.env(side, extra[side]), options);
    return { ingest, analyze: reads ? await h.start('analyze', h.env(side, extra[side]), options) : ingest };
  };
  const sides = { A: await start('A'), B: await start('B') };
  // The ingest loads also write what the reads read (the single events reach every device the reads ask for).
  if (reads) for (const side of Object.values(sides)) await closedLoop(side.ingest.url, singleEvents('/ingest', 1000), 3, 32);
  for (const side of Object.values(sides)) for (const l of loads) await closedLoop(side[l.target].url, l.reqs, 3, l.conns);
  // Per load and round: B / A of throughput, and of Redis CPU per event (INFO's used_cpu over the events).
  const ratios = new Map(loads.map((l) => [l.name, { throughput: [] as number[], redis: [] as number[] }]));
  for (let r = 0; r < rounds; r++) {
    for (const l of loads) {
      const value: Record<string, number> = {};
      const redisCpu: Record<string, number> = {};
      for (const side of r % 2 ? (['B', 'A'] as const) : (['A', 'B'] as const)) {
        const fn = sides[side][l.target];
        const row = await h.measure(`${side} ${l.name} r${r}`, () => closedLoop(fn.url, l.reqs, seconds, l.conns), { perRequest: l.per, pids: [fn.process.pid!] });
        value[side] = row.value;
        redisCpu[side] = row.redis_us_per_event ?? Number.NaN;
      }
      ratios.get(l.name)!.throughput.push(round(value.B! / value.A!, 2));
      ratios.get(l.name)!.redis.push(round(redisCpu.B! / redisCpu.A!, 2));
    }
  }
  log('B / A per round: throughput | Redis CPU per event');
  for (const [name, rs] of ratios) log(`  ${name.padEnd(20)} ${rs.throughput.join('  ')}  |  ${rs.redis.join('  ')}`);
} finally {
  await h.close();
  await redis.stop();
}
process.exit(0);
