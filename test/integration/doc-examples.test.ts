// The examples of the pages, run: each ```sh fence marked <!-- example --> is run in page order against
// a fresh store (the all-in-one target with its defaults, as `npm start` serves it), and what it prints
// must be the ```json fence after it, times of the run aside. And every relative link of the pages leads
// to a file and heading that exist.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../functions/api.js';
import { type TestApp, startApp } from '../support/app.js';
import { examples, jsonValues, maskRunTimes, runScript, unmarkedPairs } from '../support/doc-examples.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const read = (page: string) => readFileSync(join(root, page), 'utf8');
const pages = ['README.md', 'BENCHMARKS.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const withExamples = pages.filter((page) => examples(read(page)).length > 0);

describe('the pages', () => {
  it('README.md and docs/api.md carry their examples', () => {
    expect(withExamples).toEqual(expect.arrayContaining(['README.md', 'docs/api.md']));
  });

  it.each(pages)('%s has no curl command with an answer that is not marked as an example', (page) => {
    expect(unmarkedPairs(read(page)), `mark these fences' lines with <!-- example -->`).toEqual([]);
  });
});

describe.each(withExamples)('the examples of %s, in page order on an empty store', (page) => {
  let app: TestApp;
  let since: number;
  beforeAll(async () => {
    app = await startApp(apiRoutes);
    since = Date.now();
  });
  afterAll(() => app.close());

  it.each(examples(read(page)).map((e) => [`line ${e.line}: ${e.script.split('\n')[0]}`, e] as const))('%s', async (_name, example) => {
    const printed = await runScript(example.script, app.url);
    if (example.answer === undefined) return; // run for its effect on the store
    const shown = jsonValues(example.answer);
    const actual = jsonValues(printed).map((value, i) => maskRunTimes(value, shown[i], since));
    expect(actual, `what the example prints; update the page's answer if the change is meant`).toEqual(shown);
  });
});

/** GitHub's anchors of a page's headings (outside code fences), a repeated one numbered as GitHub does. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of outsideFences(text)) {
    const heading = /^#{1,6}\s+(.*)$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const slug = heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\- _]/gu, '').replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

function outsideFences(text: string): string[] {
  let inFence = false;
  return text.split('\n').filter((line) => {
    if (line.startsWith('```')) inFence = !inFence;
    return !inFence && !line.startsWith('```');
  });
}

describe("the README's configuration at a glance", () => {
  it('gives each setting the default of the full table', () => {
    const rows = (text: string) => new Map([...text.matchAll(/^\| `([A-Z_]+)` \| ([^|]+) \|/gm)].map((m) => [m[1]!, m[2]!.trim()]));
    const glance = rows(read('README.md'));
    const full = rows(read('docs/operations.md'));
    expect(glance.size).toBeGreaterThan(5);
    for (const [variable, shown] of glance) expect(shown, variable).toBe(full.get(variable));
  });
});

describe('the links between the pages', () => {
  it.each(pages)('%s: every relative link names a file and a heading that exist', (page) => {
    const broken: string[] = [];
    const text = outsideFences(read(page)).join('\n').replace(/`[^`\n]*`/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue; // http(s), mailto
      const [path, anchor] = target!.split('#') as [string, string | undefined];
      const file = path === '' ? join(root, page) : join(root, dirname(page), path);
      if (!existsSync(file)) broken.push(`${target} (no ${relative(root, file)})`);
      else if (anchor !== undefined && !anchors(readFileSync(file, 'utf8')).has(anchor)) broken.push(`${target} (no such heading)`);
    }
    expect(broken).toEqual([]);
  });
});
