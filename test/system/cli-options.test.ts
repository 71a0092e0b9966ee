import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// Every script of package.json, run as a user runs it (`npm run --silent <name> -- <args>`), read at test
// time so that a new script is covered without a line here. Our commands answer --help with their usage
// and exit 0 before any check of the environment; an unknown option is one line and exit code 2.
const root = fileURLToPath(new URL('../../', import.meta.url));
const scripts = Object.keys((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);
const dir = mkdtempSync(join(tmpdir(), 'iot-cli-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Processes at once: each is npm plus tsx, about a second of CPU, on two cores. */
const POOL = 3;
/** A process still running after this is killed and its case fails: no command may start its work here. */
const PROCESS_TIMEOUT_MS = 30_000;

interface Expectation {
  code: number;
  stdout?: RegExp;
  stderr?: RegExp;
}

/** Scripts that are not our command lines: what they answer instead, or why they are not run. */
const NOT_OURS: Record<string, { reason: string; help?: Expectation; bogus?: Expectation }> = {
  build: { reason: 'tsc, then the arguments go to scripts/copy-assets.js after a full build that rewrites dist/ under the other test files' },
  test: { reason: 'preflight and typecheck, then the arguments go to `vitest run`: the suite would run inside itself' },
  'test:unit': { reason: 'the arguments go to `vitest run --project unit`: a tier would run inside the suite' },
  'test:integration': { reason: 'preflight, then the arguments go to `vitest run --project integration`: a tier would run inside the suite' },
  'test:system': { reason: 'preflight, then the arguments go to `vitest run --project system`: the tier would run inside itself' },
  typecheck: {
    reason: "tsc's own options",
    help: { code: 0, stdout: /^tsc: The TypeScript Compiler/ },
    bogus: { code: 1, stdout: /^error TS5023: Unknown compiler option '--bogus'\.\n$/ },
  },
  mutate: {
    reason: "`stryker run`'s own options (commander)",
    help: { code: 0, stdout: /^Usage: stryker run / },
    bogus: { code: 1, stderr: /^error: unknown option '--bogus'\n$/ },
  },
};

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

let running = 0;
const waiting: Array<() => void> = [];

/** `npm run --silent <script> -- <args>` from the repository, at most POOL at once, without the variables our commands check. */
async function npmRun(script: string, args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  if (running >= POOL) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    const base: NodeJS.ProcessEnv = { ...process.env, CI: 'true', npm_config_update_notifier: 'false' };
    for (const name of ['AB_BASE', 'REDIS_URL', 'DEVICE_TOKEN_KEYS']) delete base[name];
    return await new Promise((resolve) => {
      const child = spawn('npm', ['run', '--silent', script, '--', ...args], { cwd: root, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const timer = setTimeout(() => {
        stderr += `\n[killed after ${PROCESS_TIMEOUT_MS} ms]`;
        child.kill('SIGKILL');
      }, PROCESS_TIMEOUT_MS);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  } finally {
    running--;
    waiting.shift()?.();
  }
}

const STACK_LINE = /^ {4}at /m;

function expectOutcome(result: Outcome, expected: Expectation): void {
  expect(result.code, `stdout: ${result.stdout}\nstderr: ${result.stderr}`).toBe(expected.code);
  if (expected.stdout) expect(result.stdout).toMatch(expected.stdout);
  if (expected.stderr) expect(result.stderr).toMatch(expected.stderr);
  expect(result.stdout + result.stderr).not.toMatch(STACK_LINE);
}

const ours = scripts.filter((name) => !(name in NOT_OURS));
const others = scripts.filter((name) => name in NOT_OURS && NOT_OURS[name]!.help);

describe('every script of package.json', () => {
  it('is either one of our commands or listed with the reason it is not', () => {
    expect(ours.length).toBeGreaterThan(15);
    for (const name of Object.keys(NOT_OURS)) expect(scripts, `${name} is listed as not ours but is no script`).toContain(name);
  });

  it.concurrent.each(ours)('npm run %s -- --help: usage, options and examples on stdout, exit 0, nothing started', async (name) => {
    const result = await npmRun(name, ['--help']);
    expectOutcome(result, { code: 0, stdout: /^usage: / });
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^options:\n {2}--/m);
    expect(result.stdout).toMatch(/^ {2}--help\b/m);
    expect(result.stdout).toMatch(/^examples:\n {2}\S/m);
    expect(result.stdout).not.toMatch(/^Building/m);
  });

  it.concurrent.each(ours)('npm run %s -- --bogus: one line naming the option, exit 2', async (name) => {
    const result = await npmRun(name, ['--bogus']);
    expectOutcome(result, { code: 2, stderr: /^Unknown option '--bogus' \(see --help\)\n$/ });
    expect(result.stdout).toBe('');
  });

  it.concurrent.each(others)('npm run %s (not ours) answers --help and --bogus with its own tool', async (name) => {
    const { help, bogus } = NOT_OURS[name]!;
    expectOutcome(await npmRun(name, ['--help']), help!);
    expectOutcome(await npmRun(name, ['--bogus']), bogus!);
  });
});

describe('negative numbers as option values', () => {
  const report = join(dir, 'mutation.json');
  writeFileSync(report, '{"files": {}}');
  const seedRange = /^--seed must be a whole number from 0 to 4294967295 \(got "-1"\) \(see --help\)\n$/;

  it.concurrent.each([
    ['simulate', ['--seed', '-1'], 2, seedRange],
    ['simulate', ['--seed=-1'], 2, seedRange],
    ['simulate', ['--anomaly-rate', '-0.5'], 2, /^--anomaly-rate must be a number from 0 to 1 \(got "-0\.5"\)/],
    ['simulate', ['--out', '--json'], 2, /^Option '--out' needs a value: to give one that starts with '-', write --out=<value>/],
    ['evaluate', ['--seed', '-1'], 2, /^Unknown option '--seed'/],
    ['evaluate', ['x.csv', '--sweep', '-1,2'], 2, /^--sweep must be numbers greater than 0, separated by commas/],
    ['evaluate', ['x.csv', '--charts-limit', '-1'], 2, /^--charts-limit must be a whole number greater than 0 \(got "-1"\)/],
    ['soak', ['--seconds', '-5'], 2, /^--seconds must be a whole number from 10 to 3600 \(got -5\)/],
    ['mutate:stages', ['--concurrency', '-1'], 2, /^--concurrency must be a whole number from 1 to 8 \(got "-1"\)/],
    ['token', ['--device', 'sensor-1', '--ttl', '-1d'], 2, /^--ttl must be a number with s, m, h or d, up to 366d \(got "-1d"\)/],
    // A value that is only valid as it is: the mutant id "-1" is looked up, not taken for an option.
    ['mutate:check', ['--id', '-1', '--report', report, 'test/x.test.ts'], 1, new RegExp(`^no mutant -1 in ${report.replace(/[.]/g, "\\.")}\\n$`)],
  ] as const)('npm run %s -- %j: one line, exit %i', async (name, args, code, stderr) => {
    const result = await npmRun(name, [...args]);
    expectOutcome(result, { code, stderr });
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it.concurrent('npm run token -- --device -1 mints a token for the device "-1" (a valid device id)', async () => {
    const result = await npmRun('token', ['--device', '-1', '--ttl', '1h'], { DEVICE_TOKEN_KEYS: 'k1:change-me-device-token-signing-key-0001' });
    expectOutcome(result, { code: 0, stdout: /^[\w-]+\.[\w-]+\.[\w-]+\n$/ });
    const claims = JSON.parse(Buffer.from(result.stdout.split('.')[1]!, 'base64url').toString()) as { sub: string; exp: number; iat: number };
    expect(claims.sub).toBe('-1');
    expect(claims.exp - claims.iat).toBe(3600);
  });
});
