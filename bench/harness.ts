// The measuring side of the bench: the function processes it starts, the counters it reads around each
// load (Redis CPU and script time, function CPU from /proc), and the rows, RSS and profiles it records.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { type FunctionOptions, startFunction } from '../support/functions.js';
import { type BodyRequest, type Throughput, closedLoop } from './load.js';
import { splitProfile } from './profile.js';
import { cpuUs, sampleRss } from '../support/proc.js';
import { type ProfileSplit, type Row, type RssSummary, fmt, round } from './report.js';

/** How long each case runs: seconds per case, warm-up before it, and the memory run. */
export interface Durations {
  seconds: number;
  warmup: number;
  soakSeconds: number;
}

export interface MeasureOptions {
  /** Events per request, turning requests/s into events/s when above 1; 0 when a request writes no event. */
  perRequest: number;
  unit?: string;
  /** Function processes whose CPU time is charged to the requests. */
  pids?: number[];
  /** This row is the ceiling every later ratio is taken against. */
  isCeiling?: boolean;
}

export function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function logRow(row: Row, value: number, result: Throughput): void {
  const cpu = row.function_cpu_us_per_request === undefined ? '' : `  fn CPU ${row.function_cpu_us_per_request} µs/req`;
  const redisCpu = row.redis_us_per_event === undefined ? '' : `  redis ${row.redis_us_per_event} µs/event`;
  const failures = result.failures ? `  FAILURES ${result.failures}` : '';
  log(`  ${row.case.padEnd(50)} ${fmt(value).padStart(9)} ${row.unit.padEnd(8)} ${String(row.ratio).padStart(5)}×  p50 ${result.p50} ms  p99 ${result.p99} ms${cpu}${redisCpu}${failures}`);
}

const cpuOf = (pids: number[]) => pids.reduce((sum, pid) => sum + cpuUs(pid), 0);

export class Harness {
  readonly rows: Row[] = [];
  readonly rss: Record<string, RssSummary> = {};
  private ceiling = 1;
  private readonly processes: Array<{ stop(): Promise<void> }> = [];
  private readonly admin: Redis;

  constructor(
    readonly durations: Durations,
    private readonly redisUrl: string,
  ) {
    this.admin = new Redis(redisUrl);
  }

  /** The environment of a function process: its own key prefix, batches and bodies large enough for every case. */
  env(prefix: string, extra: Record<string, string> = {}): Record<string, string> {
    return { REDIS_URL: this.redisUrl, KEY_PREFIX: `bench:${prefix}:`, MAX_BATCH: '1000', MAX_BODY_BYTES: '4194304', ...extra };
  }

  /** Starts a function process, stopped by close() if the case does not stop it itself. */
  async start(target: string, vars: Record<string, string>, options?: FunctionOptions) {
    const fn = await startFunction(target, vars, options);
    this.processes.push(fn);
    return fn;
  }

  /** `value` as a ratio to the ceiling, two decimals. */
  ratio(value: number): number {
    return round(value / this.ceiling, 2);
  }

  /** Runs `load` and records a row, with the CPU time of `pids` and of Redis it cost. */
  async measure(name: string, load: () => Promise<Throughput>, options: MeasureOptions): Promise<Row> {
    const { perRequest, unit = perRequest > 1 ? 'events/s' : 'req/s', pids = [] } = options;
    const before = await this.redisCounters();
    const cpuBefore = cpuOf(pids);
    const result = await load();
    const cpuAfter = cpuOf(pids);
    const after = await this.redisCounters();
    const events = result.requests * perRequest;
    const value = result.rps * Math.max(perRequest, 1);
    if (options.isCeiling) this.ceiling = value;
    const row: Row = { case: name, value: Math.round(value), unit, ratio: this.ratio(value), p50: result.p50, p99: result.p99, failures: result.failures };
    if (pids.length > 0 && result.requests > 0) row.function_cpu_us_per_request = Math.round((cpuAfter - cpuBefore) / result.requests);
    if (perRequest > 0 && events > 0) {
      row.redis_us_per_event = round(((after.cpu - before.cpu) * 1e6) / events, 2);
      row.lua_us_per_event = round((after.lua - before.lua) / events, 2);
    }
    this.rows.push(row);
    logRow(row, value, result);
    return row;
  }

  /** Samples the RSS of `pid` every second until the returned function is called, and records it under `name`. */
  sampleRss(name: string, pid: number): () => void {
    const stop = sampleRss(pid);
    return () => {
      const samples = stop();
      this.rss[name] = { start: round(samples[0]!, 1), end: round(samples[samples.length - 1]!, 1), max: round(Math.max(...samples), 1) };
    };
  }

  /** A CPU profile of an ingest process under `requests`, split by component. */
  async profile(name: string, requests: BodyRequest[]): Promise<ProfileSplit> {
    const dir = mkdtempSync(join(tmpdir(), 'iot-prof-'));
    const fn = await this.start('ingest', this.env(`prof-${name}`), { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
    await closedLoop(fn.url, requests, this.durations.warmup);
    await closedLoop(fn.url, requests, this.durations.seconds);
    await fn.stop();
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    const split = file ? splitProfile(join(dir, file)) : {};
    rmSync(dir, { recursive: true, force: true });
    return split;
  }

  /** Stops every process still running and the admin connection. */
  async close(): Promise<void> {
    await Promise.allSettled(this.processes.map((p) => p.stop()));
    this.admin.disconnect();
  }

  /** Redis CPU seconds (user + sys) and script time (µs) so far. */
  private async redisCounters(): Promise<{ cpu: number; lua: number }> {
    const [cpu, stats] = await Promise.all([this.admin.info('cpu'), this.admin.info('commandstats')]);
    const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(cpu)?.[1] ?? 0);
    let lua = 0;
    for (const m of stats.matchAll(/cmdstat_eval(?:sha)?:calls=\d+,usec=(\d+)/g)) lua += Number(m[1]);
    return { cpu: field('used_cpu_user') + field('used_cpu_sys'), lua };
  }
}
