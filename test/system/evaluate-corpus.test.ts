import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, corpusFiles, readLabelWindows, windowsOf } from '../../sim/readers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tsx = join(root, 'node_modules/.bin/tsx');
const dir = mkdtempSync(join(tmpdir(), 'iot-evaluate-corpus-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** npm run evaluate as a real process, from the scratch directory, through the dist/ the global setup built. */
function evaluateCommand(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const argv = [join(root, 'sim/evaluate.ts'), ...args, '--skip-build'];
    execFile(tsx, argv, { cwd: dir, env: { ...process.env, REDIS_URL: '' } }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

const minute = (i: number) => new Date(Date.UTC(2024, 0, 1, 0, i)).toISOString().replace('T', ' ').replace('.000Z', '');

/** 200 values a minute apart, alternating 10 and 11 (z = 1 at most), with 100 at the spikes: exactly the spikes are flagged. */
function series(...spikes: number[]): string {
  const rows = Array.from({ length: 200 }, (_, i) => `${minute(i)},${spikes.includes(i) ? 100 : 10 + (i % 2)}`);
  return `timestamp,value\n${rows.join('\n')}\n`;
}

describe('labels for a corpus', () => {
  it('read a per-series array or a map of files, times ISO-8601 (with microseconds) or Unix', () => {
    expect(readLabelWindows('[{"start": 60, "end": "1970-01-01T00:02:00Z"}]')).toEqual([{ start: 60_000, end: 120_000 }]);
    const map = readLabelWindows('{"a/x.csv": [["2014-02-19 10:50:00.000000", "2014-02-19 11:00:00.000000"]], "y.csv": []}');
    expect(map).toEqual(new Map([['a/x.csv', [{ start: Date.parse('2014-02-19T10:50:00Z'), end: Date.parse('2014-02-19T11:00:00Z') }]], ['y.csv', []]]));
  });

  it.each([
    ['{\n  "a.csv": [[1, 2]],\n}', 'line 3: not JSON (property name expected)'],
    ['{\n  "a.csv": [[1, 2],\n    [3, "soon"]]\n}', 'line 3: "a.csv" window 2: end must be an ISO-8601'],
    ['{"a.csv": [[5, 1]]}', 'line 1: "a.csv" window 1: ends before it starts'],
    ['{"a.csv": {"start": 1}}', 'line 1: "a.csv": expected an array of windows'],
    ['{"a.csv": [[1, 2, 3]]}', 'line 1: "a.csv" window 1: expected ["start", "end"]'],
    ['"x"', 'line 1: expected an array of {start, end} or a map'],
  ])('refuse %j naming the line', (text, message) => {
    expect(() => readLabelWindows(text)).toThrowError(InputError);
    expect(() => readLabelWindows(text)).toThrowError(message);
  });

  it('match a file by its path relative to the directory given, else by the longest key its path ends with', () => {
    const w = (n: number) => [{ start: n, end: n }];
    const map = new Map([['sub/x.csv', w(1)], ['x.csv', w(2)], ['data/sub/y.csv', w(3)], ['sub/y.csv', w(4)]]);
    expect(windowsOf(map, { path: 'corpus/sub/x.csv', key: 'sub/x.csv' })).toEqual(w(1));
    expect(windowsOf(map, { path: 'corpus/x.csv', key: 'x.csv' })).toEqual(w(2));
    expect(windowsOf(map, { path: '/nab/data/sub/y.csv', key: 'y.csv' })).toEqual(w(3));
    expect(windowsOf(map, { path: 'corpus/z.csv', key: 'z.csv' })).toBeUndefined();
  });
});

describe('npm run evaluate over a corpus', () => {
  beforeAll(() => {
    mkdirSync(join(dir, 'corpus', 'sub'), { recursive: true });
    writeFileSync(join(dir, 'corpus', 'a.csv'), series(120));
    writeFileSync(join(dir, 'corpus', 'b.csv'), series(150));
    writeFileSync(join(dir, 'corpus', 'sub', 'c.csv'), series());
    writeFileSync(join(dir, 'corpus', 'notes.txt'), 'not a series');
    const at = (i: number) => `${minute(i)}.000000`;
    // NAB's format: keys relative to the directory given, NAB's time format.
    const windows = { 'a.csv': [[at(118), at(127)]], 'b.csv': [[at(150), at(159)]], 'sub/c.csv': [[at(60), at(70)]] };
    writeFileSync(join(dir, 'windows.json'), JSON.stringify(windows, null, 2));
    writeFileSync(join(dir, 'broken.json'), '{\n  "a.csv": [["2024-01-01 01:58:00", "2024-01-01 02:07:00"]],\n  "b.csv": [["2024-01-01 02:30:00" "2024-01-01 02:39:00"]]\n}\n');
  });

  it('replays every file, printing progress, a row per file with its NAB scores, and one overall line', async () => {
    const { code, stdout, stderr } = await evaluateCommand(['corpus', '--labels', 'windows.json']);
    expect(stderr.trimEnd().split('\n')).toEqual([
      '[1/3] corpus/a.csv: 200 events, threshold 2',
      '[2/3] corpus/b.csv: 200 events, threshold 2',
      '[3/3] corpus/sub/c.csv: 200 events, threshold 2',
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^3 files, 600 events; W=50, threshold=2, min samples=10, episodes on baseline$/m);
    expect(stdout).toMatch(/NAB score of flags\s+NAB score of alerts$/m);
    expect(stdout).toMatch(/^file\s+events\s+precision\s+recall\s+F1\s+FPR\s+standard\s+low FP\s+low FN\s+standard\s+low FP\s+low FN$/m);
    // a: the spike at 120 is the third value of the window 118-127 (ten values): position −0.8, σ = 0.964028,
    // scaled 0.977108; standard 100 · (0.977108 + 1) / 2 = 98.9; low FN (null −2) 100 · (0.977108 + 2) / 3 = 99.2.
    expect(stdout).toMatch(/^corpus\/a\.csv\s+200\s+100\.0%\s+10\.0%\s+18\.2%\s+0\.0%\s+98\.9\s+98\.9\s+99\.2\s/m);
    // b: detected at the start of its window: 100 under every profile.
    expect(stdout).toMatch(/^corpus\/b\.csv\s+200\s+100\.0%\s+10\.0%\s+18\.2%\s+0\.0%\s+100\.0\s+100\.0\s+100\.0\s/m);
    // c: its window missed, nothing flagged: the null detector's 0.
    expect(stdout).toMatch(/^corpus\/sub\/c\.csv\s+200\s+0\.0%\s+0\.0%\s+0\.0%\s+0\.0%\s+0\.0\s+0\.0\s+0\.0\s/m);
    // All files: raw 0.977108 + 1 − 1 over null −3 and perfect 3: 100 · 3.977108 / 6 = 66.3; low FN:
    // raw −0.022892, null −6, perfect 3: 100 · 5.977108 / 9 = 66.4. Precision 2/2, recall 2/31 = 6.5%.
    expect(stdout).toMatch(/^all files\s+600\s+100\.0%\s+6\.5%\s+12\.1%\s+0\.0%\s+66\.3\s+66\.3\s+66\.4\s/m);
    // What an operator sees of the alerts (episodes opened; here by the flag): windows caught, alerts outside them.
    // and the alerts of each series on probation (none here: no spike in the first 30 values).
    expect(stdout).toMatch(/^alerts\s+windows detected\s+false alerts\s+per normal reading\s+on probation, per series$/m);
    expect(stdout).toMatch(/^corpus\/a\.csv\s+1\/1\s+100\.0%\s+0\s+0\.000%\s+0\.0$/m);
    expect(stdout).toMatch(/^corpus\/sub\/c\.csv\s+0\/1\s+0\.0%\s+0\s+0\.000%\s+0\.0$/m);
    expect(stdout).toMatch(/^all files\s+2\/3\s+66\.7%\s+0\s+0\.000%\s+0\.0$/m);
    expect(stdout.match(/^all files/gm)).toHaveLength(2);
  }, 60_000);

  it('refuses a malformed labels map with one line naming the file and the line, before replaying anything', async () => {
    const { code, stdout, stderr } = await evaluateCommand(['corpus', '--labels', 'broken.json']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe('broken.json: line 3: not JSON (comma expected)\n');
  });

  it('lists the *.csv and *.jsonl files under a directory, recursively, in name order', () => {
    expect(corpusFiles([join(dir, 'corpus')]).map((f) => f.key)).toEqual(['a.csv', 'b.csv', 'sub/c.csv']);
  });
});
