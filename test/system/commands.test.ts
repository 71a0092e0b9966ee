import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsx = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));

/** The commands we ship (besides simulate and evaluate, tested with the simulator), as npm runs them. */
const COMMANDS: Array<[name: string, argv: string[]]> = [
  ['npm start', ['scripts/start.js']],
  ['npm run generate', [tsx, 'scripts/generate-manifests.ts']],
  ['npm run bundle', [tsx, 'scripts/bundle.ts']],
  ['npm run bench', [tsx, 'bench/run.ts']],
  ['npm run soak', [tsx, 'bench/soak.ts']],
  ['npm run token', [tsx, 'scripts/token.ts']],
  ['npm run mutate:stages', [tsx, 'scripts/mutate-stages.ts']],
  ['npm run mutate:check', [tsx, 'scripts/mutant-check.ts']],
];

const run = (argv: string[], args: string[]) =>
  spawnSync(process.execPath, [...argv, ...args], { cwd: root, encoding: 'utf8', timeout: 30_000, env: { ...process.env, CI: 'true' } });

describe.each(COMMANDS)('%s', (_name, argv) => {
  it('answers --help with its usage, options and an example, and does nothing else', () => {
    const result = run(argv, ['--help']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^usage: /);
    expect(result.stdout).toMatch(/examples?:/);
  });

  it('refuses an unknown option with one line and exit code 2, no stack trace', () => {
    const result = run(argv, ['--no-such-option']);
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('--no-such-option');
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('npm run mutate:check', () => {
  const check = (args: string[]) => run([tsx, 'scripts/mutant-check.ts'], args);

  it('refuses a run without a mutant id or without test files, in one line', () => {
    for (const [args, message] of [[['test/x.test.ts'], '--id is required'], [['--id', '1'], 'name the test files to run']] as const) {
      const result = check([...args]);
      expect(result.status).toBe(2);
      expect(result.stderr.trim()).toBe(`${message} (see --help)`);
    }
  });

  it('says so in one line when the report or the mutant is missing', () => {
    const result = check(['--id', '1', '--report', 'reports/no-such-report.json', 'test/x.test.ts']);
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe('no report at reports/no-such-report.json: run npm run mutate first');
  });
});
