// npm run mutate:stages: the complete mutation run in two affordable stages (docs/development.md, Mutation testing).
// A static mutant (code that runs while a test file sets up its app) runs every related test file, so a
// plain run over everything takes 13-16 hours on 2 cores. Stage "focused" runs each wing's mutants,
// static ones included, against that wing's tests; stage "verify" runs their survivors again against the
// whole suite with no per-test coverage. Reports: reports/mutation/stages/ (git-ignored).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandFailure, parseCommandLine, runCommand, usageError } from '../support/cli.js';
import { type Mutant, type Report, isOpen } from './stryker-report.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const out = join(root, 'reports/mutation/stages');

/** Each wing: what is mutated, and the test files that test it. */
const WINGS: Record<string, { mutate: string[]; tests: string[] }> = {
  schemas: { mutate: ['shared/schemas/**/*.ts'], tests: ['event-fields', 'ingest', 'boundaries', 'queries', 'messages'] },
  telemetry: { mutate: ['shared/telemetry/**/*.ts'], tests: ['telemetry', 'telemetry-push', 'top-devices', 'edges'] },
  functions: {
    mutate: ['functions/**/*.ts', '!functions/index.ts', '!functions/*/index.ts', 'shared/*.ts'],
    tests: ['ingest', 'analyze-stats', 'edges', 'auth', 'queries', 'config', 'cloudevents', 'device-tokens', 'store-full', 'idempotency-ratelimit'],
  },
  config: { mutate: ['shared/config/**/*.ts'], tests: ['config', 'config-rules', 'messages', 'edges'] },
  http: { mutate: ['shared/http/**/*.ts'], tests: ['json-structure', 'boundaries', 'edges', 'messages', 'auth', 'device-tokens', 'cloudevents', 'ingest'] },
  store: {
    mutate: ['shared/store/**/*.ts', 'shared/detector/**/*.ts', 'shared/outbox/**/*.ts'],
    tests: ['store', 'write-path', 'analyze-stats', 'episodes', 'idempotency-ratelimit', 'expiry-refill', 'outbox', 'lua-reference', 'detection', 'top-devices', 'store-full', 'outbox-delivery'],
  },
};
/** Left out of the verifying suite: commands, tools and functions run only as child processes, which no mutant reaches. */
const NOT_VERIFYING = ['faults', 'instances', 'structure', 'lua-reference-long', 'sim-cli', 'simulation', 'evaluate-corpus', 'commands', 'bench-report', 'alert-rules', 'deploy'];

const { values } = parseCommandLine({
  usage: 'npm run mutate:stages -- [--stage focused|verify|all] [--wing <name>] [--concurrency <n>]',
  summary: [
    'Runs the mutation testing of shared/ and functions/ in two stages: each wing against its own tests (static',
    'mutants included), then every survivor against the whole suite. Prints the score per wing.',
  ].join('\n'),
  options: {
    stage: { type: 'string', arg: 'stage', default: 'all', doc: 'focused, verify (needs the focused reports) or all' },
    wing: { type: 'string', arg: 'name', doc: `one wing only: ${Object.keys(WINGS).join(', ')}` },
    concurrency: { type: 'string', arg: 'n', default: '2', doc: 'Stryker test runners, 1 to 8 (each starts its servers)' },
  },
  examples: ['npm run mutate:stages -- --concurrency 2', 'npm run mutate:stages -- --stage focused --wing config'],
});

if (!['focused', 'verify', 'all'].includes(values.stage ?? '')) usageError(`--stage must be focused, verify or all (got "${values.stage}")`);
if (values.wing !== undefined && !Object.hasOwn(WINGS, values.wing)) usageError(`--wing must be one of ${Object.keys(WINGS).join(', ')} (got "${values.wing}")`);
if (!/^[1-8]$/.test(values.concurrency ?? '')) usageError(`--concurrency must be a whole number from 1 to 8 (got "${values.concurrency}")`);
const wings = values.wing ? [values.wing] : Object.keys(WINGS);
// A test file's folder is its tier (test/unit, test/integration, test/system): a name matches it in whichever.
const testFiles = (names: string[]) => names.map((n) => `test/*/${n}.test.ts`).join(',');

/** One Stryker run; its report is kept as `name`. */
function stryker(name: string, tests: string, args: string[]): void {
  console.error(`${new Date().toISOString().slice(11, 19)} ${name}`);
  const run = spawnSync(join(root, 'node_modules/.bin/stryker'), ['run', '--concurrency', values.concurrency!, '--force', '--incrementalFile', `reports/mutation/stages/${name}.incremental.json`, ...args], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, MUTATE_TESTS: tests },
  });
  if (run.status !== 0) throw new CommandFailure(`stryker ${name} ended with ${run.status ?? run.signal}; see reports/mutation/mutation.html`);
  copyFileSync(join(root, 'reports/mutation/mutation.json'), join(out, `${name}.json`));
}

const read = (name: string): Report => JSON.parse(readFileSync(join(out, `${name}.json`), 'utf8')) as Report;
// A report's columns count from 1; a --mutate range's from 0 (both ends included).
const range = (path: string, { start, end }: Mutant['location']) => `${path}:${start.line}:${start.column - 1}-${end.line}:${end.column - 1}`;
const id = (path: string, m: Mutant) => `${path}:${m.location.start.line}:${m.location.start.column}-${m.location.end.line}:${m.location.end.column} ${m.mutatorName} ${m.replacement ?? ''}`;

function verify(wing: string): void {
  const ranges = new Set<string>();
  for (const [path, file] of Object.entries(read(`focused-${wing}`).files)) for (const m of file.mutants) if (isOpen(m.status)) ranges.add(range(path, m.location));
  if (ranges.size === 0) return;
  const suite = ['test/unit', 'test/integration', 'test/system'].flatMap((dir) =>
    readdirSync(join(root, dir)).filter((f) => f.endsWith('.test.ts') && !NOT_VERIFYING.includes(f.slice(0, -'.test.ts'.length))).map((f) => `${dir}/${f}`),
  );
  stryker(`verify-${wing}`, suite.join(','), ['--coverageAnalysis', 'all', '--mutate', [...ranges].join(',')]);
}

/** The score per wing: the focused run's statuses, with the survivors' replaced by the verifying run's. */
function scores(): string[] {
  const rows: string[] = ['wing        mutants  killed  timeout  survived  no coverage  score'];
  for (const wing of Object.keys(WINGS)) {
    if (!existsSync(join(out, `focused-${wing}.json`))) continue;
    const status = new Map<string, string>();
    for (const [path, file] of Object.entries(read(`focused-${wing}`).files)) for (const m of file.mutants) status.set(id(path, m), m.status);
    if (existsSync(join(out, `verify-${wing}.json`))) {
      for (const [path, file] of Object.entries(read(`verify-${wing}`).files)) {
        for (const m of file.mutants) {
          const before = status.get(id(path, m));
          if (isOpen(before)) status.set(id(path, m), m.status);
        }
      }
    }
    const count = (s: string) => [...status.values()].filter((v) => v === s).length;
    const [killed, timeout, survived, none] = ['Killed', 'Timeout', 'Survived', 'NoCoverage'].map(count) as [number, number, number, number];
    const all = killed + timeout + survived + none;
    rows.push(`${wing.padEnd(10)} ${String(all).padStart(8)} ${String(killed).padStart(7)} ${String(timeout).padStart(8)} ${String(survived).padStart(9)} ${String(none).padStart(12)}  ${((100 * (killed + timeout)) / all).toFixed(1)}%`);
  }
  return rows;
}

await runCommand(async () => {
  mkdirSync(out, { recursive: true });
  for (const wing of wings) {
    if (values.stage !== 'verify') stryker(`focused-${wing}`, testFiles(WINGS[wing]!.tests), ['--mutate', WINGS[wing]!.mutate.join(',')]);
    if (values.stage !== 'focused') {
      if (!existsSync(join(out, `focused-${wing}.json`))) throw new CommandFailure(`no focused report for ${wing}: run --stage focused first`);
      verify(wing);
    }
  }
  console.log(scores().join('\n'));
});
