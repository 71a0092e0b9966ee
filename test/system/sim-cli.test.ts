import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLabelledStream } from '../../sim/readers.js';

// The commands as real processes, run with tsx directly (not through npm, whose own warnings would reach stderr),
// from a scratch directory so that their default outputs land there.
const root = fileURLToPath(new URL('../../', import.meta.url));
const tsx = join(root, 'node_modules/.bin/tsx');
const dir = mkdtempSync(join(tmpdir(), 'iot-sim-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

function command(name: 'simulate' | 'evaluate', args: string[], cwd = dir): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(tsx, [join(root, 'sim', `${name}.ts`), ...args], { cwd, env: { ...process.env, REDIS_URL: '' } }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

describe('--help', () => {
  it.each([
    ['simulate', ['--url', '--devices', '--preset', '--anomaly-rate', '--seed', '--events', '--interval', '--start', '--out', '--rate', '--duration', '--batch', '--token']],
    ['evaluate', ['--labels', '--sweep', '--charts', '--charts-dir', '--charts-limit', '--skip-build', '--json']],
  ] as const)('npm run %s -- --help prints its options and an example, and exits 0', async (name, options) => {
    const { code, stdout, stderr } = await command(name, ['--help']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(new RegExp(`^usage: npm run ${name} -- `));
    for (const option of [...options, '--help']) expect(stdout).toMatch(new RegExp(`^  ${option}\\b`, 'm'));
    expect(stdout).toMatch(new RegExp(`^examples:\\n  npm run ${name} -- `, 'm'));
  });

  it('document the defaults that matter: the fixed start, real time when live, outputs under out/', async () => {
    const simulate = (await command('simulate', ['--help'])).stdout;
    expect(simulate).toMatch(/--start <time>.*\(default: 2026-01-01T00:00:00Z\)/);
    expect(simulate).toMatch(/--url <url>.*real time/);
    expect(simulate).toMatch(/--out <file>.*out\/stream\.jsonl/);
    expect((await command('evaluate', ['--help'])).stdout).toMatch(/--charts-dir <dir>.*\(default: out\/charts\)/);
  });
});

describe('mistakes on the command line and in the input', () => {
  beforeAll(() => {
    writeFileSync(join(dir, 'bad.csv'), 't,v\nyesterday,1\n');
    writeFileSync(join(dir, 'unlabelled.csv'), 't,v\n2026-01-01T00:00:00Z,1\n');
    writeFileSync(join(dir, 'windows.json'), '[{"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:01:00Z"}]');
    writeFileSync(join(dir, 'bad-map.json'), '{\n  "unlabelled.csv": [["2026-01-01 00:00:00", "later"]]\n}\n');
    mkdirSync(join(dir, 'empty'), { recursive: true });
  });

  it.each([
    ['simulate', ['--bogus'], 2, /^Unknown option '--bogus'/],
    ['simulate', ['--devices', 'abc'], 2, /^--devices must be a whole number greater than 0 \(got "abc"\)/],
    ['simulate', ['--preset', 'nope'], 2, /^--preset must be one of realistic, source/],
    ['simulate', ['--seed', 'x'], 2, /^--seed must be a whole number/],
    ['simulate', ['--start', 'yesterday'], 2, /^--start must be an ISO-8601 date-time/],
    ['simulate', ['--events', '0'], 2, /^--events must be a whole number greater than 0/],
    ['simulate', ['--anomaly-rate', '2'], 2, /^--anomaly-rate must be a number from 0 to 1/],
    ['simulate', ['--url', 'ftp://x'], 2, /^--url must be an http or https URL/],
    ['simulate', ['stray'], 2, /^Unexpected argument 'stray'/],
    ['simulate', ['--out', '.'], 1, /^\.: is a directory$/],
    ['evaluate', [], 2, /^give the files to evaluate/],
    ['evaluate', ['unlabelled.csv', 'bad.csv', '--labels', 'windows.json'], 2, /^--labels windows\.json holds the windows of one series, and there are 2 files: give a map/],
    ['evaluate', ['empty'], 1, /^empty: no \.csv or \.jsonl files in it$/],
    ['evaluate', ['unlabelled.csv', 'missing.csv'], 1, /^missing\.csv: no such file or directory$/],
    ['evaluate', ['--bogus'], 2, /^Unknown option '--bogus'/],
    ['evaluate', ['x.csv', '--sweep', '2,a'], 2, /^--sweep must be numbers greater than 0/],
    ['evaluate', ['x.csv', '--charts-limit', '0'], 2, /^--charts-limit must be a whole number greater than 0/],
    ['evaluate', ['missing.csv'], 1, /^missing\.csv: no such file or directory$/],
    ['evaluate', ['bad.csv'], 1, /^bad\.csv: line 2: timestamp must be an ISO-8601/],
    ['evaluate', ['unlabelled.csv'], 1, /^unlabelled\.csv: no labelled values to score/],
    ['evaluate', ['unlabelled.csv', '--labels', 'missing.json'], 1, /^missing\.json: no such file or directory$/],
    ['evaluate', ['unlabelled.csv', '--labels', 'bad-map.json'], 1, /^bad-map\.json: line 2: "unlabelled\.csv" window 1: end must be an ISO-8601/],
  ] as const)('%s %j: one line on stderr, exit code %i, no stack trace', async (name, args, exitCode, message) => {
    const { code, stdout, stderr } = await command(name, [...args]);
    expect(code).toBe(exitCode);
    expect(stdout).toBe('');
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr.trimEnd()).toMatch(message);
    expect(stderr).not.toMatch(/^\s+at /m);
  });
});

describe('the offline stream', () => {
  const simulate = async (out: string, ...args: string[]) => {
    const { code, stderr } = await command('simulate', ['--devices', '3', '--events', '200', '--out', out, ...args]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    return readFileSync(join(dir, out));
  };

  it('is byte-identical for the same seed and options, at any time of day, and differs for another seed', async () => {
    const first = await simulate('a.jsonl', '--seed', '7');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await simulate('b.jsonl', '--seed', '7');
    expect(second.equals(first)).toBe(true);
    expect((await simulate('c.jsonl', '--seed', '8')).equals(first)).toBe(false);
    const events = readLabelledStream(first.toString());
    expect(events).toHaveLength(600);
    expect(events[0]!.timestamp).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(events.at(-1)!.timestamp).toBe(Date.parse('2026-01-01T00:00:00Z') + 199 * 10_000);
  });

  it('starts at --start (UTC without an offset)', async () => {
    const events = readLabelledStream((await simulate('d.jsonl', '--start', '2026-03-01T12:00:00', '--interval', '60')).toString());
    expect(events[0]!.timestamp).toBe(Date.parse('2026-03-01T12:00:00Z'));
    expect(events[3]!.timestamp).toBe(Date.parse('2026-03-01T12:01:00Z'));
  });

  it('goes to out/stream.jsonl when no --out is given, creating out/', async () => {
    const cwd = mkdtempSync(join(dir, 'default-'));
    const { code, stdout } = await command('simulate', ['--preset', 'source', '--devices', '2', '--events', '10'], cwd);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^wrote 20 readings of 2 devices \(source\) to out\/stream\.jsonl/);
    expect(readLabelledStream(readFileSync(join(cwd, 'out', 'stream.jsonl'), 'utf8'))).toHaveLength(20);
    expect(existsSync(join(cwd, 'stream.jsonl'))).toBe(false);
  });
});
