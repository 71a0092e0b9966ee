import type { RunnerTestCase } from 'vitest';
import { configDefaults, defineConfig, mergeConfig } from 'vitest/config';
import type { Reporter, Vitest } from 'vitest/node';
import { allTiers as base } from './vitest.config.js';

/**
 * A file that fails outside its tests (a file-level beforeAll, or an import that throws) leaves its
 * tests "skipped" or never collected, and Stryker's vitest runner then counts the mutant as Survived
 * (stryker-js#6150, still open). This reporter gives such a file one failed test that carries the
 * error, so a mutant that breaks the setup counts as killed, and a broken setup fails the dry run.
 */
function fileErrorsAsFailedTests(): Reporter {
  let vitest: Vitest | undefined;
  return {
    onInit(ctx) {
      vitest = ctx;
    },
    onTestRunEnd() {
      for (const file of vitest?.state.getFiles() ?? []) {
        const errors = file.result?.errors;
        const id = `${file.id}_outside`;
        if (file.result?.state !== 'fail' || !errors?.length || file.tasks.some((t) => t.id === id)) continue;
        const name = `${file.name} failed outside its tests`;
        file.tasks.push({
          type: 'test',
          id,
          name,
          fullName: name,
          fullTestName: name,
          mode: 'run',
          file,
          meta: {},
          annotations: [],
          artifacts: [],
          tags: [],
          timeout: 0,
          context: undefined as never, // never run: it only reports
          result: { state: 'fail', errors },
        } satisfies RunnerTestCase);
      }
    },
  };
}

// The suite for `npm run mutate` (Stryker): every tier as one flat suite (the projects of vitest.config.ts
// would ignore this file's include and exclude). Left out: test/system/instances, whose product code runs
// in child processes, where Stryker cannot switch a mutant on; and the house rules, which read the source text
// that Stryker's instrumenting rewrites; and the longest Lua comparisons (W = 10,000, 10^6 events), a
// minute or more each under instrumentation. test/lua-reference stays: the Lua is an independent
// implementation of the reference (shared/detector), so a mutant of the reference makes the two disagree.
// MUTATE_TESTS (comma-separated globs) narrows the suite to the files that test one wing: a static
// mutant (code that runs while a file sets up its app) runs every test file of the suite, so a focused
// run makes a wing's static mutants affordable; its survivors are then re-run with the whole suite.
const focused = process.env.MUTATE_TESTS?.split(',').map((glob) => glob.trim()).filter(Boolean);

const config = mergeConfig(
  base,
  defineConfig({
    test: {
      exclude: [
        ...configDefaults.exclude,
        'test/system/instances.test.ts',
        'test/integration/lua-reference-long.test.ts',
        'test/unit/structure.test.ts',
      ],
      reporters: ['default', fileErrorsAsFailedTests()],
    },
  }),
);
// mergeConfig would add the globs to the base ones: replace them instead.
if (focused?.length && config.test) config.test.include = focused;

export default config;
