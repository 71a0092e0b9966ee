// npm run soak [-- --quick]: 60 s of single-event ingest at saturation (32 connections, closed loop)
// with 5% bad requests mixed in. Passes when there is no 5xx, the events Redis counted equal the 202s
// answered, and the function's RSS stays flat. Writes bench/results/<date>-soak.json and BENCHMARKS.md.
import { execFileSync } from 'node:child_process';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { keys } from '../shared/store/keys.js';
import { parseCommandLine, runCommand, usageError } from '../support/cli.js';
import { startFunction } from '../support/functions.js';
import { type Running, startRedis } from '../support/servers.js';
import type { BodyRequest } from './load.js';
import { rssMb, sampleRss } from '../support/proc.js';
import { type SoakSummary, checkSection, renderSoak, serverErrors, writeResult, writeSection } from './report.js';
import { singleEvents } from './workload.js';

const SECTION = 'soak';
const KEY_PREFIX = 'soak:';
const CONNECTIONS = 32;
/** One request in BAD_EVERY is bad. */
const BAD_EVERY = 20;
const BAD = ['{"cpu": 1,', '{"cpu": "75.5"}', '{"CPU": 1}', '{"device_id": "a b", "cpu": 1}', '[]'];

const { values } = parseCommandLine({
  usage: 'npm run soak -- [options]',
  summary: [
    `Single-event ingest at saturation (${CONNECTIONS} connections) for 60 s with ${100 / BAD_EVERY}% bad requests mixed in.`,
    'Passes (exit 0) when no request gets a 5xx, the events Redis counted equal the 202s answered, and RSS settles',
    '(the last third of the run within 10 MB of the middle third);',
    'exit 1 when a check fails. Writes bench/results/<date>-soak.json and the section between the soak markers of BENCHMARKS.md.',
  ].join('\n'),
  options: {
    quick: { type: 'boolean', doc: '10 s instead of 60 s; writes bench/results/<date>-soak-quick.json, leaves BENCHMARKS.md alone' },
    seconds: { type: 'string', arg: 's', doc: 'run this long instead (10–3600); like --quick, leaves BENCHMARKS.md alone' },
  },
  examples: ['npm run soak -- --quick', 'npm run soak', 'npm run soak -- --seconds 240'],
});

/** Events the service has counted so far. ioredis adds KEY_PREFIX for the service; this raw client adds it itself. */
async function countedEvents(admin: Redis): Promise<number> {
  return Number((await admin.hget(`${KEY_PREFIX}${keys.totals}`, 'events')) ?? 0);
}

/** Good single events with every BAD_EVERY-th body replaced by a bad one. */
function mixedRequests(): BodyRequest[] {
  const good = singleEvents('/ingest', 1000, 2000, 11);
  return good.map((r, i) => (i % BAD_EVERY === BAD_EVERY - 1 ? { ...r, body: BAD[(i / BAD_EVERY) % BAD.length | 0] } : r));
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function summarize(result: autocannon.Result, counted: number, samples: number[], seconds: number): SoakSummary {
  const codes = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, (s as { count: number }).count]));
  const accepted = codes['202'] ?? 0;
  // The first third is V8 growing its heap to its working size (on Node 24, ~50 MB over the first
  // ~12 s; a 240 s run settles there: BENCHMARKS.md). A leak keeps growing after it: compare the last
  // third with the middle one.
  const third = Math.ceil(samples.length / 3);
  const growth = mean(samples.slice(-third)) - mean(samples.slice(third, 2 * third));
  const checks = {
    'no 5xx': serverErrors(codes) === 0 && result.errors === 0 && result.timeouts === 0,
    'Redis counted every 202, nothing more': counted === accepted,
    'bad requests refused with 400': (codes['400'] ?? 0) > 0,
    'RSS settled (last third within 10 MB of the middle one)': growth <= 10,
  };
  return {
    date: new Date().toISOString(),
    seconds,
    requests_per_second: Math.round(result.requests.average),
    status_codes: codes,
    socket_errors: result.errors,
    timeouts: result.timeouts,
    accepted,
    counted_in_redis: counted,
    rss_mb: { start: Math.round(samples[0]!), end: Math.round(samples.at(-1)!), max: Math.round(Math.max(...samples)), growth: Math.round(growth * 10) / 10 },
    checks,
  };
}

/** Warms up, then sends about `seconds` worth of requests while sampling RSS and watching the event count. */
async function load(fn: Running, redisUrl: string, seconds: number): Promise<SoakSummary> {
  const options = { url: fn.url, connections: CONNECTIONS, requests: mixedRequests(), headers: { 'content-type': 'application/json' } };
  // Fixed amounts, not durations: autocannon then waits for every response, so each event the server
  // applies is seen by the client (a duration run drops requests still in flight at its end).
  const warm = await autocannon({ ...options, amount: 5000 });
  const amount = Math.round(warm.requests.average * seconds);
  const admin = new Redis(redisUrl);
  try {
    const before = await countedEvents(admin);
    const first = rssMb(fn.process.pid!);
    const stopRss = sampleRss(fn.process.pid!);
    const result = await autocannon({ ...options, amount });
    const samples = [first, ...stopRss()];
    return summarize(result, (await countedEvents(admin)) - before, samples, seconds);
  } finally {
    admin.disconnect();
  }
}

const seconds = values.seconds === undefined ? (values.quick ? 10 : 60) : Number(values.seconds);
if (!Number.isInteger(seconds) || seconds < 10 || seconds > 3600) usageError(`--seconds must be a whole number from 10 to 3600 (got ${values.seconds})`);
/** Only a default-length full run writes BENCHMARKS.md; others write a result file of their own. */
const official = !values.quick && values.seconds === undefined;

async function soak(): Promise<void> {
  // A full soak ends by writing BENCHMARKS.md: refuse at once if it cannot.
  if (official) checkSection(SECTION);
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  const redis = await startRedis();
  let fn: Running | undefined;
  try {
    fn = await startFunction('ingest', { REDIS_URL: redis.url, KEY_PREFIX });
    const summary = await load(fn, redis.url, seconds);
    console.log(JSON.stringify(summary, null, 2));
    writeResult(`${summary.date.slice(0, 10)}-soak${official ? '' : values.quick ? '-quick' : `-${seconds}s`}.json`, summary);
    if (official) writeSection(SECTION, renderSoak(summary, CONNECTIONS, `${100 / BAD_EVERY}%`));
    process.exitCode = Object.values(summary.checks).every(Boolean) ? 0 : 1;
  } finally {
    await fn?.stop();
    await redis.stop();
  }
}

await runCommand(soak);
