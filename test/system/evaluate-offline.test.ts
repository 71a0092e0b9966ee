import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BaselineParams, baselineStep, emptyBaseline, hourOf } from '../../shared/detector/baseline.js';
import { PROFILES } from '../../shared/detector/profiles.js';
import { rng } from '../../support/random.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tsx = join(root, 'node_modules/.bin/tsx');
const dir = mkdtempSync(join(tmpdir(), 'iot-evaluate-offline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** npm run evaluate as a real process, from the scratch directory, through the dist/ the global setup built. */
function evaluateCommand(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const argv = [join(root, 'sim/evaluate.ts'), ...args, '--skip-build'];
    execFile(tsx, argv, { cwd: dir, env: { ...process.env, REDIS_URL: '', ...env }, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

const FIVE_MINUTES = 300_000;
const START = Date.UTC(2024, 0, 1);
/** NAB's time format. */
const nabTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, '');

/** A NAB-shaped series: 5-minute values with a daily cycle and noise (3 decimals), and the given spans raised by `jump` (spikes, a level shift). */
function nabSeries(n: number, seed: number, jumps: Array<[from: number, to: number, jump: number]>): string {
  const r = rng(seed);
  const rows = Array.from({ length: n }, (_, i) => {
    const daily = 10 * Math.sin((2 * Math.PI * i) / 288);
    const jump = jumps.filter(([from, to]) => i >= from && i <= to).reduce((sum, [, , j]) => sum + j, 0);
    return `${nabTime(START + i * FIVE_MINUTES)},${(50 + daily + 2 * r.gauss() + jump).toFixed(3)}`;
  });
  return `timestamp,value\n${rows.join('\n')}\n`;
}

/** A window around index i, NAB-style (±half before and after, in NAB's time format with microseconds). */
const windowAround = (i: number, half: number) => [`${nabTime(START + (i - half) * FIVE_MINUTES)}.000000`, `${nabTime(START + (i + half) * FIVE_MINUTES)}.000000`];

beforeAll(() => {
  mkdirSync(join(dir, 'nab', 'realThings'), { recursive: true });
  mkdirSync(join(dir, 'nab', 'artificialThings'), { recursive: true });
  writeFileSync(join(dir, 'nab', 'realThings', 'spikes.csv'), nabSeries(1400, 7, [[700, 700, 60], [1100, 1101, -45]]));
  writeFileSync(join(dir, 'nab', 'artificialThings', 'shift.csv'), nabSeries(1600, 11, [[1000, 1599, 25]]));
  const windows = { 'realThings/spikes.csv': [windowAround(700, 40), windowAround(1100, 40)], 'artificialThings/shift.csv': [windowAround(1000, 60)] };
  writeFileSync(join(dir, 'windows.json'), JSON.stringify(windows, null, 2));
});

interface Report {
  results: Array<{ nab: unknown; evaluation: unknown; files: Array<{ file: string; nab: unknown; evaluation: unknown }> }>;
}

describe('npm run evaluate --offline', () => {
  // The shipped default (no variables), the other profile, and the other triggers.
  const settings: Array<Record<string, string>> = [{}, { DETECTOR_PROFILE: 'infra' }, { EPISODE_TRIGGER: 'flag' }, { DETECTOR_PROFILE: 'infra', EPISODE_TRIGGER: 'likelihood' }];
  it.each(settings)(
    'gives the same flags, alerts and NAB scores as the service, settings %j', async (env: Record<string, string>) => {
    const args = ['nab', '--labels', 'windows.json', '--json'];
    const [online, offline] = await Promise.all([evaluateCommand(args, env), evaluateCommand([...args, '--offline'], env)]);
    expect(online.code).toBe(0);
    expect(offline.code).toBe(0);
    const a = JSON.parse(online.stdout) as Report;
    const b = JSON.parse(offline.stdout) as Report;
    expect(b.results).toEqual(a.results);
    // Not an empty comparison: the service alerted, and caught windows.
    const alerts = (a.results[0]!.nab as { alerts: { standard: { tp: number; fp: number; detectedWindows: number } } }).alerts.standard;
    expect(alerts.tp + alerts.fp).toBeGreaterThan(0);
    expect(alerts.detectedWindows).toBeGreaterThan(0);
  }, 120_000);

  it("writes the alerts in NAB's results layout for NAB's scorer", async () => {
    const { code } = await evaluateCommand(['nab', '--labels', 'windows.json', '--offline', '--export-nab', 'results/iotAlerts']);
    expect(code).toBe(0);
    const lines = readFileSync(join(dir, 'results', 'iotAlerts', 'realThings', 'iotAlerts_spikes.csv'), 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(1401);
    expect(lines[0]).toBe('timestamp,value,anomaly_score,label');
    expect(lines[1]).toMatch(/^2024-01-01 00:00:00,[\d.]+,0,0$/);
    // The spike at 700 is alerted (the baseline method is past its warm-up there), inside its labelled window.
    expect(lines[701]).toMatch(/^2024-01-03 10:20:00,[\d.]+,1,1$/);
    expect(lines.filter((l) => l.endsWith(',1,1') || l.endsWith(',1,0')).length).toBeGreaterThan(0);
  }, 60_000);

  it("takes the alert method's parameters from the environment, as the service does: a bad one is refused in one line", async () => {
    const bad = await evaluateCommand(['nab', '--labels', 'windows.json', '--offline'], { BASELINE_SPIKE_Z: 'high' });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/BASELINE_SPIKE_Z must be a number from 0 to 1000/);
  });
});

describe('the baseline method (shared/detector/baseline.ts)', () => {
  const times = (n: number) => Array.from({ length: n }, (_, i) => START + i * FIVE_MINUTES);
  const DEFAULTS: BaselineParams = PROFILES.default;
  const baselineAlerts = (values: readonly number[], at: readonly number[], p: BaselineParams = DEFAULTS) => {
    const st = emptyBaseline();
    return values.map((value, i) => baselineStep(st, value, at[i]!, p).alert);
  };

  it('keys the hour of the day from the event time (UTC)', () => {
    expect(hourOf(START)).toBe(0);
    expect(hourOf(START + 13 * 3_600_000 + 59 * 60_000)).toBe(13);
    expect(hourOf(-1)).toBe(23);
  });

  it('alerts on a spike once, then holds off for the refractory period', () => {
    const r = rng(3);
    const values = Array.from({ length: 600 }, (_, i) => 10 + r.gauss() + (i === 300 || i === 330 ? 40 : 0));
    const alerts = baselineAlerts(values, times(600));
    expect(alerts.flatMap((on, i) => (on ? [i] : []))).toEqual([300]);
  });

  it('learns a daily cycle from the hour-of-day means, and alerts where a day breaks it', () => {
    const r = rng(5);
    const day = 288;
    const values = Array.from({ length: 12 * day }, (_, i) => 50 + 30 * Math.sin((2 * Math.PI * i) / day) + r.gauss() + (i >= 10 * day && i < 10 * day + 36 ? -40 : 0));
    const alerts = baselineAlerts(values, times(values.length));
    const late = alerts.flatMap((on, i) => (on && i > 5 * day ? [i] : []));
    expect(late.length).toBeGreaterThan(0);
    expect(late.every((i) => i >= 10 * day && i < 10 * day + 36 + DEFAULTS.baselineShort)).toBe(true);
    // Without the hour-of-day baseline the cycle itself is the variance, and the break hides in it.
    const plain = baselineAlerts(values, times(values.length), { ...DEFAULTS, baselineHourSpan: 0 });
    expect(plain.slice(10 * day, 10 * day + 36).some(Boolean)).toBe(false);
  });

  it('alerts on a stuck value at its FLAT_RUN-th repeat, unless the series often repeats', () => {
    const r = rng(9);
    const noisy = Array.from({ length: 600 }, () => 10 + r.gauss());
    for (let i = 401; i < 420; i++) noisy[i] = noisy[400]!;
    const alerts = baselineAlerts(noisy, times(600));
    expect(alerts.flatMap((on, i) => (on ? [i] : []))).toEqual([400 + DEFAULTS.baselineFlatRun - 1]);
    // A quantised series (one of two values, so repeats half the time) keeps its runs to itself.
    const quantised = Array.from({ length: 600 }, (_, i) => (i >= 401 && i < 420 ? 1 : r.next() < 0.5 ? 1 : 2));
    expect(baselineAlerts(quantised, times(600)).some(Boolean)).toBe(false);
  });

  it('never alerts during its warm-up', () => {
    const values = Array.from({ length: 200 }, (_, i) => (i % 7 === 0 ? 1000 : i));
    expect(baselineAlerts(values, times(200)).slice(0, DEFAULTS.baselineWarmup).some(Boolean)).toBe(false);
  });
});
