// npm run bench [-- --quick]: every path against the framework's own ceiling, in one run so ratios hold.
// Starts its own redis-server and function processes (functions-framework serving dist/) on loopback.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { type FunctionOptions, startFunction } from '../support/functions.js';
import { startRedis } from '../support/servers.js';
import { type BodyRequest, type Throughput, closedLoop, openLoop } from './load.js';
import { splitProfile } from './profile.js';
import { batches, singleEvents } from './workload.js';

const quick = process.argv.includes('--quick');
const seconds = quick ? 3 : 10;
const warmup = quick ? 1 : 3;
const soakSeconds = quick ? 10 : 60;
const root = new URL('..', import.meta.url);

execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
const redis = await startRedis();
const admin = new Redis(redis.url);
const processes: Array<{ stop(): Promise<void> }> = [];

interface Row {
  case: string;
  value: number;
  unit: string;
  ratio: number;
  p50?: number;
  p99?: number;
  p999?: number;
  redis_us_per_event?: number;
  lua_us_per_event?: number;
  /** CPU time of the function processes per request: steadier than throughput on a shared machine. */
  function_cpu_us_per_request?: number;
  failures: number;
}
const rows: Row[] = [];
const rss: Record<string, { start: number; end: number; max: number }> = {};
let ceiling = 1;

function log(line: string) {
  process.stdout.write(`${line}\n`);
}

function env(prefix: string, extra: Record<string, string> = {}) {
  return { REDIS_URL: redis.url, KEY_PREFIX: `bench:${prefix}:`, MAX_BATCH: '1000', MAX_BODY_BYTES: '4194304', ...extra };
}

async function start(target: string, vars: Record<string, string>, options?: FunctionOptions) {
  const fn = await startFunction(target, vars, options);
  processes.push(fn);
  return fn;
}

/** Redis CPU seconds (user + sys) and script time (µs) so far. */
async function redisCounters(): Promise<{ cpu: number; lua: number }> {
  const [cpu, stats] = await Promise.all([admin.info('cpu'), admin.info('commandstats')]);
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(cpu)?.[1] ?? 0);
  let lua = 0;
  for (const m of stats.matchAll(/cmdstat_eval(?:sha)?:calls=\d+,usec=(\d+)/g)) lua += Number(m[1]);
  return { cpu: field('used_cpu_user') + field('used_cpu_sys'), lua };
}

/** User + system CPU time of a process so far, in µs (from /proc, 100 ticks a second). */
function cpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** Runs `load` and records a row; `perRequest` events per request turn requests/s into events/s. */
async function measure(name: string, perRequest: number, load: () => Promise<Throughput>, unit = perRequest > 1 ? 'events/s' : 'req/s', pids: number[] = [], isCeiling = false) {
  const before = await redisCounters();
  const cpuBefore = pids.reduce((sum, pid) => sum + cpuUs(pid), 0);
  const result = await load();
  const cpuAfter = pids.reduce((sum, pid) => sum + cpuUs(pid), 0);
  const after = await redisCounters();
  const events = result.requests * perRequest;
  const value = result.rps * Math.max(perRequest, 1);
  if (isCeiling) ceiling = value;
  const row: Row = { case: name, value: Math.round(value), unit, ratio: round(value / ceiling, 2), p50: result.p50, p99: result.p99, failures: result.failures };
  if (pids.length > 0 && result.requests > 0) row.function_cpu_us_per_request = Math.round((cpuAfter - cpuBefore) / result.requests);
  if (perRequest > 0 && events > 0) {
    row.redis_us_per_event = round(((after.cpu - before.cpu) * 1e6) / events, 2);
    row.lua_us_per_event = round((after.lua - before.lua) / events, 2);
  }
  rows.push(row);
  const cpu = row.function_cpu_us_per_request === undefined ? '' : `  fn CPU ${row.function_cpu_us_per_request} µs/req`;
  const redisCpu = row.redis_us_per_event === undefined ? '' : `  redis ${row.redis_us_per_event} µs/event`;
  log(`  ${name.padEnd(50)} ${fmt(value).padStart(9)} ${unit.padEnd(8)} ${String(row.ratio).padStart(5)}×  p50 ${result.p50} ms  p99 ${result.p99} ms${cpu}${redisCpu}${result.failures ? `  FAILURES ${result.failures}` : ''}`);
  return row;
}

function round(x: number, digits: number) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
function fmt(x: number) {
  return Math.round(x).toLocaleString('en-US');
}

/** Fills every series of `devices` devices to `count` values, in batches of 1000. */
async function prefill(url: string, devices: number, count: number) {
  for (let sent = 0; sent < count * devices; sent += 1000) {
    const body = Array.from({ length: 1000 }, (_, i) => {
      const k = sent + i;
      return { device_id: `device-${k % devices}`, cpu: 50 + (k % 7), rps: 100 + (k % 11), memory: 55 + (k % 3), latency: 20 + (k % 5) };
    });
    const res = await fetch(`${url}/ingest/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status !== 202) throw new Error(`prefill failed: ${res.status} ${await res.text()}`);
  }
}

function sampleRss(name: string, pid: number) {
  const samples: number[] = [];
  const timer = setInterval(() => samples.push(rssMb(pid)), 1000);
  return () => {
    clearInterval(timer);
    samples.push(rssMb(pid));
    rss[name] = { start: round(samples[0]!, 1), end: round(samples[samples.length - 1]!, 1), max: round(Math.max(...samples), 1) };
  };
}

async function profile(name: string, requests: BodyRequest[]) {
  const dir = mkdtempSync(join(tmpdir(), 'iot-prof-'));
  const fn = await start('ingest', env(`prof-${name}`), { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  await closedLoop(fn.url, requests, warmup);
  await closedLoop(fn.url, requests, seconds);
  await fn.stop();
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  const split = file ? splitProfile(join(dir, file)) : {};
  rmSync(dir, { recursive: true, force: true });
  return split;
}

try {
  const single = singleEvents('/ingest', 1000);
  const batch100 = batches('/ingest/batch', 100, 1000);
  const batch1000 = batches('/ingest/batch', 1000, 1000);
  // A gateway sending the buffered readings of a few devices: fewer script calls per event.
  const gateway = batches('/ingest/batch', 1000, 10, 20, 4);
  log(`bench ${quick ? '(quick) ' : ''}— ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}, ${seconds} s per case`);

  log('1. ceiling');
  const hello = await start('hello', {}, { source: 'bench/hello-function.js' });
  await closedLoop(hello.url, single, warmup);
  await measure('hello-world function (same framework)', 0, () => closedLoop(hello.url, single, seconds), 'req/s', [hello.process.pid!], true);
  await hello.stop();

  log('2-4. throughput of one ingest process');
  const ingest = await start('ingest', env('main'));
  const stopRss = sampleRss('ingest under load', ingest.process.pid!);
  await closedLoop(ingest.url, single, warmup);
  const pid = [ingest.process.pid!];
  await measure('single-event ingest (2-4 metrics, 1000 devices)', 1, () => closedLoop(ingest.url, single, seconds), 'req/s', pid);
  await measure('batch ingest, 100 events/request', 100, () => closedLoop(ingest.url, batch100, seconds, 8), 'events/s', pid);
  await measure('batch ingest, 1000 events/request', 1000, () => closedLoop(ingest.url, batch1000, seconds, 4), 'events/s', pid);
  await measure('batch ingest, 1000 events/request from 10 devices', 1000, () => closedLoop(ingest.url, gateway, seconds, 4), 'events/s', pid);
  stopRss();

  const analyze = await start('analyze', env('main'));
  const stats = await start('stats', env('main'));
  const analyzeRequests: BodyRequest[] = Array.from({ length: 100 }, (_, i) => ({ method: 'GET', path: `/analyze?device=device-${i * 7}` }));
  await measure('GET /analyze?device=…', 0, () => closedLoop(analyze.url, analyzeRequests, seconds), 'req/s', [analyze.process.pid!]);
  await measure('GET /anomalies?limit=50', 0, () => closedLoop(analyze.url, [{ method: 'GET', path: '/anomalies?limit=50' }], seconds), 'req/s', [analyze.process.pid!]);
  await measure('GET /stats (1000 devices)', 0, () => closedLoop(stats.url, [{ method: 'GET', path: '/stats' }], seconds), 'req/s', [stats.process.pid!]);
  await analyze.stop();
  await stats.stop();

  log('5. latency at a fixed offered load (open loop)');
  const open = await openLoop(ingest.url, single, 1000, seconds);
  rows.push({ case: 'single-event ingest at 1000 req/s offered', value: open.sent / seconds, unit: 'req/s', ratio: round(open.sent / seconds / ceiling, 2), p50: round(open.p50, 2), p99: round(open.p99, 2), p999: round(open.p999, 2), failures: open.failures });
  log(`  p50 ${open.p50.toFixed(2)} ms  p99 ${open.p99.toFixed(2)} ms  p99.9 ${open.p999.toFixed(2)} ms  (${open.sent} sent, ${open.failures} failed${open.failures ? `: ${JSON.stringify(open.reasons)}` : ''})`);

  log('6. window size (20 devices × 4 metrics, windows full, batches of 100)');
  const windowRows: Record<number, number> = {};
  for (const w of [50, 1000, 10_000]) {
    const fn = await start('ingest', env(`w${w}`, { WINDOW_SIZE: String(w) }));
    await prefill(fn.url, 20, w + 10);
    const load = batches('/ingest/batch', 100, 20, 20, 3);
    await closedLoop(fn.url, load, warmup, 8);
    windowRows[w] = (await measure(`W = ${w}`, 100, () => closedLoop(fn.url, load, seconds, 8))).value;
    await fn.stop();
  }

  log('7. one vs two ingest processes on one Redis (batches of 1000)');
  const second = await start('ingest', env('main'));
  const one = await measure('one process', 1000, () => closedLoop(ingest.url, batch1000, seconds, 4));
  const two = await measure('two processes', 1000, async () => {
    const [a, b] = await Promise.all([closedLoop(ingest.url, batch1000, seconds, 4), closedLoop(second.url, batch1000, seconds, 4)]);
    return { rps: a.rps + b.rps, requests: a.requests + b.requests, failures: a.failures + b.failures, p50: Math.max(a.p50, b.p50), p99: Math.max(a.p99, b.p99) };
  });
  await second.stop();

  log(`memory: single-event ingest for ${soakSeconds} s`);
  const stopSoak = sampleRss('ingest over the soak', ingest.process.pid!);
  await measure(`single-event ingest, ${soakSeconds} s`, 1, () => closedLoop(ingest.url, single, soakSeconds), 'req/s');
  stopSoak();
  log(`  RSS ${JSON.stringify(rss)}`);
  await ingest.stop();

  log('where the time goes (CPU profiles of the ingest process)');
  const profiles = { 'single-event ingest': await profile('single', single), 'batch ingest, 1000 events/request': await profile('batch', batch1000) };
  for (const [name, split] of Object.entries(profiles)) log(`  ${name}: ${Object.entries(split).map(([k, v]) => `${k} ${v}%`).join(', ')}`);

  const singleRow = rows.find((r) => r.case.startsWith('single-event ingest (2-4'))!;
  const batchRow = rows.find((r) => r.case === 'batch ingest, 1000 events/request')!;
  const soak = rss['ingest over the soak']!;
  const targets = [
    { target: 'single-event ingest ≥ 0.8× ceiling', measured: `${singleRow.ratio}×`, met: singleRow.ratio >= 0.8 },
    { target: 'p99 ≤ 10 ms at 1000 req/s offered', measured: `${round(open.p99, 2)} ms`, met: open.p99 <= 10 },
    { target: 'batch ingest ≥ 100,000 events/s per process', measured: `${fmt(batchRow.value)} events/s`, met: batchRow.value >= 100_000 },
    { target: 'W = 10,000 at ≥ 0.8× the events/s of W = 50', measured: `${round(windowRows[10_000]! / windowRows[50]!, 2)}×`, met: windowRows[10_000]! / windowRows[50]! >= 0.8 },
    { target: 'Redis CPU ≤ 10 µs per event (batch ingest)', measured: `${batchRow.redis_us_per_event} µs`, met: (batchRow.redis_us_per_event ?? Infinity) <= 10 },
    { target: 'function RSS ≤ 150 MB and flat', measured: `max ${soak.max} MB, ${soak.start} → ${soak.end} MB`, met: soak.max <= 150 && soak.end - soak.start <= Math.max(10, 0.1 * soak.start) },
  ];
  log('targets');
  for (const t of targets) log(`  ${t.met ? 'met   ' : 'MISSED'} ${t.target}: ${t.measured}`);
  log(`  two processes / one: ${round(two.value / one.value, 2)}× (Redis ${two.redis_us_per_event} µs/event; one Redis core ≈ ${fmt(1e6 / (two.redis_us_per_event ?? 1))} events/s)`);

  const date = new Date().toISOString().slice(0, 10);
  const result = {
    date: new Date().toISOString(),
    quick,
    machine: { cores: cpus().length, model: cpus()[0]?.model, memory_gib: Math.round(totalmem() / 2 ** 30), node: process.version },
    seconds_per_case: seconds,
    rows,
    rss_mb: rss,
    profiles,
    targets,
  };
  mkdirSync(new URL('bench/results/', root), { recursive: true });
  const file = `bench/results/${date}${quick ? '-quick' : ''}.json`;
  writeFileSync(new URL(file, root), `${JSON.stringify(result, null, 2)}\n`);
  if (!quick) updateSummary(result, file);
  log(`results: ${file}${quick ? '' : ' and BENCHMARKS.md'}`);
} finally {
  await Promise.allSettled(processes.map((p) => p.stop()));
  admin.disconnect();
  await redis.stop();
}

/** Replaces the generated summary in BENCHMARKS.md; the analysis around it is written by hand. */
function updateSummary(result: { date: string; machine: { cores: number; model?: string; node: string }; rows: Row[]; targets: Array<{ target: string; measured: string; met: boolean }>; rss_mb: typeof rss; profiles: Record<string, Record<string, number>> }, file: string) {
  const path = new URL('BENCHMARKS.md', root);
  const text = readFileSync(path, 'utf8');
  const cell = (x: number | undefined) => (x === undefined ? '' : String(x));
  const table = [
    `Last full run: ${result.date.slice(0, 16).replace('T', ' ')} UTC, ${result.machine.cores} cores (${result.machine.model}), node ${result.machine.node}; raw figures in \`${file}\`.`,
    '',
    '| case | value | unit | × ceiling | p50 ms | p99 ms | p99.9 ms | function CPU µs/request | Redis CPU µs/event | Lua µs/event | failures |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...result.rows.map((r) => `| ${r.case} | ${fmt(r.value)} | ${r.unit} | ${r.ratio} | ${cell(r.p50)} | ${cell(r.p99)} | ${cell(r.p999)} | ${cell(r.function_cpu_us_per_request)} | ${cell(r.redis_us_per_event)} | ${cell(r.lua_us_per_event)} | ${r.failures} |`),
    '',
    '| target | measured | |',
    '|---|---|---|',
    ...result.targets.map((t) => `| ${t.target} | ${t.measured} | ${t.met ? 'met' : '**missed**'} |`),
    '',
    `RSS of the ingest process (MB): ${Object.entries(result.rss_mb).map(([k, v]) => `${k}: start ${v.start}, end ${v.end}, max ${v.max}`).join('; ')}.`,
    '',
    'CPU profile of the ingest process, self time by component (% of busy time):',
    '',
    ...Object.entries(result.profiles).map(([name, split]) => `- ${name}: ${Object.entries(split).map(([k, v]) => `${k} ${v}%`).join(', ')}`),
  ].join('\n');
  const start = '<!-- bench:summary:start -->';
  const end = '<!-- bench:summary:end -->';
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < 0) throw new Error('BENCHMARKS.md has lost its summary markers');
  writeFileSync(path, `${text.slice(0, from + start.length)}\n${table}\n${text.slice(to)}`);
}
