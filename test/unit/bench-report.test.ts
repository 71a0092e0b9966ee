import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  BENCHMARKS_MD,
  type BenchResult,
  ReportError,
  type SoakSummary,
  checkSection,
  renderSoak,
  renderSummary,
  replaceBetweenMarkers,
  writeSection,
} from '../../bench/report.js';
import { runCommand } from '../../support/cli.js';

const doc = [
  '# Title',
  '',
  '<!-- a:start -->',
  'old a',
  '<!-- a:end -->',
  '',
  'prose by hand',
  '',
  '<!-- b:start -->',
  'old b',
  'second line',
  '<!-- b:end -->',
  'tail',
  '',
].join('\n');

describe('replaceBetweenMarkers', () => {
  it('replaces the text between the named pair and nothing else', () => {
    const out = replaceBetweenMarkers(doc, 'b', 'new b');
    expect(out).toBe(doc.replace('old b\nsecond line', 'new b'));
    expect(replaceBetweenMarkers(doc, 'a', 'new a')).toBe(doc.replace('old a', 'new a'));
  });

  it('gives the same file when run twice with the same body', () => {
    const once = replaceBetweenMarkers(doc, 'a', 'x\ny');
    expect(replaceBetweenMarkers(once, 'a', 'x\ny')).toBe(once);
  });

  it.each([
    ['no start marker', doc.replace('<!-- b:start -->\n', ''), '<!-- b:start --> not found'],
    ['no end marker', doc.replace('<!-- b:end -->', ''), '<!-- b:end --> not found'],
    ['no markers at all', '# Title\n\nprose\n', '<!-- b:start --> not found'],
    ['end before start', doc.replace('<!-- b:start -->', '<!-- tmp -->').replace('<!-- b:end -->', '<!-- b:start -->').replace('<!-- tmp -->', '<!-- b:end -->'), '<!-- b:end --> comes before <!-- b:start -->'],
    ['start twice', doc.replace('tail', '<!-- b:start -->'), '<!-- b:start --> appears more than once'],
    ['end twice', doc.replace('tail', '<!-- b:end -->'), '<!-- b:end --> appears more than once'],
  ])('refuses a file with %s, in one line naming the file and the marker', (_, text, message) => {
    const attempt = () => replaceBetweenMarkers(text, 'b', 'new', 'NOTES.md');
    expect(attempt).toThrow(ReportError);
    expect(attempt).toThrow(`NOTES.md: ${message}`);
    try {
      attempt();
    } catch (error) {
      expect((error as Error).message).not.toContain('\n');
    }
  });

  it('does not take another section’s markers for its own', () => {
    expect(() => replaceBetweenMarkers(doc, 'bench:summary', 'x')).toThrow('<!-- bench:summary:start --> not found');
  });
});

describe('writeSection and checkSection', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bench-report-'));
    file = join(dir, 'BENCHMARKS.md');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the new section into the file', () => {
    writeFileSync(file, doc);
    writeSection('a', 'new a', file);
    expect(readFileSync(file, 'utf8')).toBe(doc.replace('old a', 'new a'));
  });

  it('leaves a file without the markers as it was', () => {
    const text = doc.replace('<!-- a:end -->', '');
    writeFileSync(file, text);
    expect(() => checkSection('a', file)).toThrow('BENCHMARKS.md: <!-- a:end --> not found');
    expect(() => writeSection('a', 'new a', file)).toThrow(ReportError);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it('checks without writing', () => {
    writeFileSync(file, doc);
    checkSection('b', file);
    expect(readFileSync(file, 'utf8')).toBe(doc);
  });
});

describe('runCommand, as the bench and the soak end on a ReportError', () => {
  afterEach(() => {
    process.exitCode = undefined;
    vi.restoreAllMocks();
  });

  it('turns a ReportError into one line on stderr and exit code 1', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    await runCommand(async () => {
      throw new ReportError('BENCHMARKS.md: <!-- soak:end --> not found');
    });
    expect(error.mock.calls).toEqual([['BENCHMARKS.md: <!-- soak:end --> not found']]);
    expect(process.exitCode).toBe(1);
  });

  it('lets any other error through', async () => {
    await expect(runCommand(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(process.exitCode).toBeUndefined();
  });
});

// The committed sections were written by the earlier, unsplit scripts: rendering the raw figures they
// name must give them back byte for byte, so that tables stay comparable across runs.
describe('the generated sections of BENCHMARKS.md', () => {
  const text = readFileSync(BENCHMARKS_MD, 'utf8');
  const root = new URL('../../', import.meta.url);

  it('the bench summary is what renderSummary makes of the results file it names', () => {
    const file = /raw figures in `(bench\/results\/[^`]+\.json)`/.exec(text)?.[1];
    expect(file).toBeDefined();
    const result = JSON.parse(readFileSync(new URL(file!, root), 'utf8')) as BenchResult;
    expect(replaceBetweenMarkers(text, 'bench:summary', renderSummary(result, file!))).toBe(text);
  });

  it('the soak section is what renderSoak makes of that day’s soak file', () => {
    const date = /Last soak: (\d{4}-\d{2}-\d{2})/.exec(text)?.[1];
    const file = new URL(`bench/results/${date}-soak.json`, root);
    expect(existsSync(file)).toBe(true);
    const summary = JSON.parse(readFileSync(file, 'utf8')) as SoakSummary;
    expect(replaceBetweenMarkers(text, 'soak', renderSoak(summary, 32, '5%'))).toBe(text);
  });
});
