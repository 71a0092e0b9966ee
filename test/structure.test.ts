import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
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
