import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const MAX_LINES = 60;

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every function of a file (declarations, methods, arrows, expressions) with its length in lines, nested ones included in their parent's. */
function functionLengths(path: string): Array<{ name: string; lines: number }> {
  const file = ts.createSourceFile(path, readFileSync(join(root, path), 'utf8'), ts.ScriptTarget.Latest, true);
  const out: Array<{ name: string; lines: number }> = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = file.getLineAndCharacterOfPosition(node.getStart(file)).line;
      const end = file.getLineAndCharacterOfPosition(node.getEnd()).line;
      const named = (node as ts.FunctionDeclaration).name?.getText(file);
      const owner = ts.isVariableDeclaration(node.parent) || ts.isPropertyAssignment(node.parent) ? node.parent.name.getText(file) : undefined;
      out.push({ name: `${relative(root, join(root, path))}:${start + 1} ${named ?? owner ?? '(anonymous)'}`, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return out;
}

describe('the house rules', () => {
  it(`keeps every function of shared/ and functions/ within ${MAX_LINES} lines, nested functions counted in their parent`, () => {
    const long = [...sources('shared'), ...sources('functions')]
      .flatMap(functionLengths)
      .filter((f) => f.lines > MAX_LINES)
      .map((f) => `${f.name}: ${f.lines} lines`);
    expect(long).toEqual([]);
  });
});

describe('the layout section of docs/development.md', () => {
  const readme = readFileSync(join(root, 'docs/development.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Project layout'));
  const block = /```\n([\s\S]*?)```/.exec(section)![1]!;
  const listed = block.split('\n').flatMap((line) => line.split(/\s{2,}/)[0]!.split(/,\s*/)).filter(Boolean);

  it('names only paths that exist', () => {
    expect(listed.filter((path) => !existsSync(join(root, path)))).toEqual([]);
  });

  it('names every wing of shared/ and every top-level folder of code', () => {
    const folders = (dir: string) =>
      readdirSync(join(root, dir), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `${dir}${e.name}/`);
    const expected = [...folders('shared/'), 'support/', 'test/', 'bench/', 'sim/', 'scripts/', 'knative/', 'functions/ingest/', 'functions/analyze/', 'functions/stats/'];
    expect(expected.filter((path) => !listed.includes(path))).toEqual([]);
  });
});

/** The modules a file imports at run time (type-only imports left out), relative ones as paths from the root, each with the names it takes. */
function imports(path: string): Array<{ from: string; names: string[] }> {
  const file = ts.createSourceFile(path, readFileSync(join(root, path), 'utf8'), ts.ScriptTarget.Latest, true);
  const out: Array<{ from: string; names: string[] }> = [];
  const add = (spec: string, names: string[] = []) =>
    out.push({ from: spec.startsWith('.') ? relative(root, join(root, dirname(path), spec)).replace(/\.js$/, '.ts') : spec, names });
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier) && !node.importClause?.isTypeOnly) {
      const bindings = node.importClause?.namedBindings;
      add(node.moduleSpecifier.text, bindings && ts.isNamedImports(bindings) ? bindings.elements.filter((e) => !e.isTypeOnly).map((e) => (e.propertyName ?? e.name).text) : []);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier) && !node.isTypeOnly) {
      add(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      add(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return out;
}

/** Every import of `start` and of the files of ours it reaches, following only the files `follow` accepts: "file: module name". */
function reached(start: string, follow: (path: string) => boolean): string[] {
  const seen = new Set([start]);
  const found: string[] = [];
  for (const todo = [start]; todo.length > 0; ) {
    const path = todo.pop()!;
    for (const { from, names } of imports(path)) {
      found.push(...(names.length > 0 ? names : ['*']).map((name) => `${path}: ${from} ${name}`));
      if (from.endsWith('.ts') && existsSync(join(root, from)) && follow(from) && !seen.has(from)) todo.push((seen.add(from), from));
    }
  }
  return found;
}

// What starts something: a module (every name of it) or one name of a module of ours.
const PROCESSES = ['node:child_process *', 'child_process *', 'playwright-core *', 'support/servers.ts startRedis', 'support/cluster.ts startRedisCluster', 'support/functions.ts startFunction', 'support/prometheus.ts startPrometheus', 'support/prometheus.ts startPushgateway', 'support/certificates.ts makeCertificates', 'sim/replay.ts replay', 'sim/replay.ts replayDetections', 'sim/replay.ts evaluationRedis'];
const REDIS = ['ioredis *', 'vitest inject'];
const matches = (found: string, what: readonly string[]) => what.some((w) => (w.endsWith(' *') ? found.includes(`: ${w.slice(0, -1)}`) : found.endsWith(`: ${w}`)));
const testFiles = (tier: string) => readdirSync(join(root, 'test', tier)).filter((f) => f.endsWith('.test.ts')).map((f) => `test/${tier}/${f}`);

describe('the test tiers: a file\'s folder tells what it needs', () => {
  it('keeps test/ to the tiers, their helpers and fixtures', () => {
    expect(readdirSync(join(root, 'test')).sort()).toEqual(['fixtures', 'integration', 'support', 'system', 'unit']);
    expect(sources('test').filter((path) => path.endsWith('.test.ts') && !/^test\/(unit|integration|system)\/[^/]+\.test\.ts$/.test(path))).toEqual([]);
  });

  it('gives unit tests neither Redis nor a process: nothing they reach, through any file of ours, opens either', () => {
    const starts = testFiles('unit').flatMap((path) => reached(path, () => true)).filter((found) => matches(found, [...REDIS, ...PROCESSES]));
    expect(starts).toEqual([]);
  });

  it('gives integration tests the global Redis and no process: neither they nor the test/support helpers they use start one', () => {
    const starts = testFiles('integration').flatMap((path) => reached(path, (from) => from.startsWith('test/'))).filter((found) => matches(found, PROCESSES));
    expect(starts).toEqual([]);
  });
});
