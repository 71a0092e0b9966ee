// Everything the bench and the soak write: the raw figures in bench/results/ and the generated
// sections of BENCHMARKS.md, each between a named pair of markers; the prose around them is by hand.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { replaceBetweenMarkers } from '../support/markers.js';

export { ReportError, markers, replaceBetweenMarkers } from '../support/markers.js';

const root = new URL('..', import.meta.url);
export const BENCHMARKS_MD = new URL('BENCHMARKS.md', root);

/** One row of the bench's table; optional columns are left out of the JSON when not measured. */
export interface Row {
  case: string;
  value: number;
  unit: string;
  /** To the bare framework's ceiling. */
  ratio: number;
  /** To the ceiling of the framework with one Redis round trip per request. */
  ratio_redis?: number;
  p50?: number;
  p99?: number;
  p999?: number;
  redis_us_per_event?: number;
  lua_us_per_event?: number;
  /** CPU time of the function processes per request: steadier than throughput on a shared machine. */
  function_cpu_us_per_request?: number;
  function_cpu_us_per_event?: number;
  /** Script calls Redis served during the case, how many took over 1 ms (SLOWLOG), and the longest (µs; 0 when none took SLOWLOG_FLOOR_US). */
  script_calls?: number;
  calls_over_1ms?: number;
  longest_call_us?: number;
  failures: number;
}

export type RssSummary = { start: number; end: number; max: number };
export type Target = { target: string; measured: string; met: boolean };
/** Self time by component, in % of busy time. */
export type ProfileSplit = Record<string, number>;

/** The shape of bench/results/<date>[-quick].json. */
export interface BenchResult {
  date: string;
  quick: boolean;
  machine: { cores: number; model: string | undefined; memory_gib: number; node: string };
  seconds_per_case: number;
  rows: Row[];
  rss_mb: Record<string, RssSummary>;
  profiles: Record<string, ProfileSplit>;
  targets: Target[];
}

/** The shape of bench/results/<date>-soak[-quick].json. */
export interface SoakSummary {
  date: string;
  seconds: number;
  requests_per_second: number;
  status_codes: Record<string, number>;
  socket_errors: number;
  timeouts: number;
  accepted: number;
  counted_in_redis: number;
  rss_mb: RssSummary & { growth: number };
  checks: Record<string, boolean>;
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function fmt(x: number): string {
  return Math.round(x).toLocaleString('en-US');
}

function label(path: string | URL): string {
  return basename(typeof path === 'string' ? path : fileURLToPath(path));
}

/** Throws the ReportError that writeSection would, without writing: run it before a long measurement. */
export function checkSection(name: string, path: string | URL = BENCHMARKS_MD): void {
  replaceBetweenMarkers(readFileSync(path, 'utf8'), name, '', label(path));
}

/** Replaces the section `name` of BENCHMARKS.md (or `path`); the file is left as it was if that fails. */
export function writeSection(name: string, body: string, path: string | URL = BENCHMARKS_MD): void {
  writeFileSync(path, replaceBetweenMarkers(readFileSync(path, 'utf8'), name, body, label(path)));
}

/** Writes bench/results/<fileName> as indented JSON; returns its path from the repository root. */
export function writeResult(fileName: string, data: unknown): string {
  const file = `bench/results/${fileName}`;
  mkdirSync(new URL('bench/results/', root), { recursive: true });
  writeFileSync(new URL(file, root), `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

const cell = (x: number | undefined) => (x === undefined ? '' : String(x));
const splitLine = (split: ProfileSplit) =>
  Object.entries(split)
    .map(([k, v]) => `${k} ${v}%`)
    .join(', ');

const longest = (r: Row) =>
  r.longest_call_us === undefined ? '' : `${r.longest_call_us === 0 ? '< 200' : r.longest_call_us} (${r.calls_over_1ms} of ${fmt(r.script_calls ?? 0)})`;

function rowLine(r: Row): string {
  const cells = [r.case, fmt(r.value), r.unit, r.ratio, cell(r.ratio_redis), cell(r.p50), cell(r.p99), cell(r.p999)];
  cells.push(cell(r.function_cpu_us_per_event), cell(r.redis_us_per_event), cell(r.lua_us_per_event), longest(r), r.failures);
  return `| ${cells.join(' | ')} |`;
}

/** The section `bench:summary` of BENCHMARKS.md for a full run whose raw figures are in `file`. */
export function renderSummary(result: BenchResult, file: string): string {
  return [
    `Last full run: ${result.date.slice(0, 16).replace('T', ' ')} UTC, ${result.machine.cores} cores (${result.machine.model}), node ${result.machine.node}; raw figures in \`${file}\`.`,
    '',
    '| case | value | unit | × framework | × framework + Redis | p50 ms | p99 ms | p99.9 ms | function CPU µs/event | Redis CPU µs/event | Lua µs/event | longest script call µs (calls over 1 ms of all) | failures |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...result.rows.map(rowLine),
    '',
    '| target | measured | |',
    '|---|---|---|',
    ...result.targets.map((t) => `| ${t.target} | ${t.measured} | ${t.met ? 'met' : '**missed**'} |`),
    '',
    `RSS of the ingest process (MB): ${Object.entries(result.rss_mb).map(([k, v]) => `${k}: start ${v.start}, end ${v.end}, max ${v.max}`).join('; ')}.`,
    '',
    'CPU profile of the ingest process, self time by component (% of busy time):',
    '',
    ...Object.entries(result.profiles).map(([name, split]) => `- ${name}: ${splitLine(split)}`),
  ].join('\n');
}

/** 5xx responses of a soak, all codes together. */
export function serverErrors(codes: Record<string, number>): number {
  return Object.entries(codes)
    .filter(([code]) => code.startsWith('5'))
    .reduce((n, [, c]) => n + c, 0);
}

/** The section `soak` of BENCHMARKS.md. */
export function renderSoak(s: SoakSummary, connections: number, badShare: string): string {
  const rss = `${s.rss_mb.start} → ${s.rss_mb.end} (${s.rss_mb.max})`;
  const cells = [s.requests_per_second, s.accepted, s.status_codes['400'] ?? 0, serverErrors(s.status_codes), s.socket_errors, s.counted_in_redis, rss];
  return [
    `Last soak: ${s.date.slice(0, 16).replace('T', ' ')} UTC, ${s.seconds} s, ${connections} connections, ${badShare} bad requests.`,
    '',
    '| requests/s | 202 | 400 | 5xx | socket errors | events counted in Redis | RSS start → end (max) MB |',
    '|---:|---:|---:|---:|---:|---:|---|',
    `| ${cells.join(' | ')} |`,
    '',
    ...Object.entries(s.checks).map(([name, ok]) => `- ${ok ? 'passed' : '**failed**'}: ${name}`),
  ].join('\n');
}
