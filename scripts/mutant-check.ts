// npm run mutate:check: re-applies one mutant of a Stryker report exactly (its replacement at its
// location, type checks off for the file), runs the given test files, and restores the file. The way to
// check a survivor by hand, or that a new test kills it: a mutant written by hand is easily a different one.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandFailure, parseCommandLine, runCommand, usageError } from '../support/cli.js';
import { type Position, type Report } from './stryker-report.js';

const root = fileURLToPath(new URL('../', import.meta.url));

const { values, positionals } = parseCommandLine({
  usage: 'npm run mutate:check -- --id <mutant id> [--report <mutation.json>] <test files...>',
  summary: 'Applies one mutant of a Stryker report exactly, runs the test files against it, and puts the file back.',
  options: {
    id: { type: 'string', arg: 'id', doc: 'the mutant id, as the HTML report and mutation.json give it' },
    report: { type: 'string', arg: 'file', default: 'reports/mutation/mutation.json', doc: 'the Stryker JSON report' },
  },
  positionals: true,
  examples: ['npm run mutate:check -- --id 1234 test/integration/boundaries.test.ts'],
});
if (!values.id) usageError('--id is required');
if (positionals.length === 0) usageError('name the test files to run');

/** Offset of a report position (lines and columns count from 1) in `text`. */
function offsetOf(text: string, { line, column }: Position): number {
  let offset = 0;
  for (let l = 1; l < line; l++) offset = text.indexOf('\n', offset) + 1;
  return offset + column - 1;
}

await runCommand(async () => {
  const reportPath = resolve(root, values.report!);
  if (!existsSync(reportPath)) throw new CommandFailure(`no report at ${values.report}: run npm run mutate first`);
  const report = JSON.parse(readFileSync(reportPath, 'utf8')) as Report;
  const found = Object.entries(report.files).flatMap(([path, file]) => file.mutants.filter((m) => m.id === values.id).map((m) => [path, m] as const));
  if (found.length === 0) throw new CommandFailure(`no mutant ${values.id} in ${values.report}`);
  const [path, mutant] = found[0]!;
  const file = join(root, path);
  const original = readFileSync(file, 'utf8');
  const [from, to] = [offsetOf(original, mutant.location.start), offsetOf(original, mutant.location.end)];
  console.log(`${path}:${mutant.location.start.line} ${mutant.mutatorName} (${mutant.status} in the report)`);
  console.log(`  - ${original.slice(from, to).replace(/\s+/g, ' ').slice(0, 160)}`);
  console.log(`  + ${(mutant.replacement ?? '').replace(/\s+/g, ' ').slice(0, 160)}`);
  // The first line is an addition: the offsets above were taken before it.
  writeFileSync(file, `// @ts-nocheck\n${original.slice(0, from)}${mutant.replacement ?? ''}${original.slice(to)}`);
  const restore = () => writeFileSync(file, original);
  process.once('SIGINT', () => {
    restore();
    process.exit(130);
  });
  try {
    const run = spawnSync(join(root, 'node_modules/.bin/vitest'), ['run', ...positionals], { cwd: root, encoding: 'utf8' });
    const tests = /Tests\s+(.*)/.exec(run.stdout.replace(/\x1b\[[0-9;]*m/g, ''))?.[1]?.trim() ?? 'no test summary (see the output of vitest)';
    console.log(run.status === 0 ? `survived: ${tests}` : `killed: ${tests}`);
  } finally {
    restore();
  }
});
