import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const MAX_LINES = 60;

function sources(dir: string, ext = '.ts'): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path, ext);
    return entry.name.endsWith(ext) ? [path] : [];
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

/** The tokens of a Lua source that matter to its structure (names, keywords, symbols), strings and comments left out. */
function* luaTokens(source: string): Generator<{ word: string; line: number }> {
  const token = /--\[(=*)\[[\s\S]*?\]\1\]|--[^\n]*|\[(=*)\[[\s\S]*?\]\2\]|"(?:\\[\s\S]|[^"\\\n])*"|'(?:\\[\s\S]|[^'\\\n])*'|[A-Za-z_]\w*|\S/g;
  let line = 1;
  let counted = 0;
  for (let m = token.exec(source); m; m = token.exec(source)) {
    for (; counted < m.index; counted++) if (source[counted] === '\n') line++;
    if (!/^(--|\[=*\[|["'])/.test(m[0])) yield { word: m[0], line };
  }
}

/** Lua's blocks: `function`, `if`, `do`, `repeat` open one (`for` and `while` open theirs with `do`); `end`, `until` close one. */
const opens = (word: string) => word === 'function' || word === 'if' || word === 'do' || word === 'repeat';
const closes = (word: string) => word === 'end' || word === 'until';

/** Every function of a Lua source (`function` to its matching `end`) with its first line and length, nested ones included in their parent's. */
function luaFunctions(source: string): Array<{ line: number; name: string; lines: number }> {
  const out: Array<{ line: number; name: string; lines: number }> = [];
  const open: Array<{ line: number; name?: string }> = [];
  const tokens = [...luaTokens(source)];
  tokens.forEach(({ word, line }, i) => {
    if (word === 'function') {
      const named = tokens.slice(i + 1).findIndex((t) => t.word === '(');
      const name = tokens.slice(i + 1, i + 1 + named).map((t) => t.word).join('');
      const assigned = tokens[i - 1]?.word === '=' && /^\w+$/.test(tokens[i - 2]?.word ?? '') ? tokens[i - 2]!.word : undefined;
      open.push({ line, name: name || assigned || '(anonymous)' });
    } else if (opens(word)) {
      open.push({ line });
    } else if (closes(word)) {
      const block = open.pop();
      if (!block) throw new Error(`unmatched ${word} at line ${line}`);
      if (block.name) out.push({ line: block.line, name: block.name, lines: line - block.line + 1 });
    }
  });
  if (open.length > 0) throw new Error(`unclosed block from line ${open.at(-1)!.line}`);
  return out.sort((a, b) => a.line - b.line);
}

/** The names a Lua file declares outside any block (`local a, b` and `local function f`): what the files after it see. */
function luaTopLevelNames(source: string): string[] {
  const names: string[] = [];
  const tokens = [...luaTokens(source)];
  let depth = 0;
  tokens.forEach(({ word }, i) => {
    if (depth === 0 && word === 'local') {
      for (let j = tokens[i + 1]?.word === 'function' ? i + 2 : i + 1; /^\w+$/.test(tokens[j]?.word ?? ''); j += 2) {
        names.push(tokens[j]!.word);
        if (tokens[j + 1]?.word !== ',') break;
      }
    }
    if (opens(word)) depth++;
    else if (closes(word)) depth--;
  });
  return names;
}

describe('the house rules', () => {
  it(`keeps every function of shared/ and functions/ within ${MAX_LINES} lines, nested functions counted in their parent`, () => {
    const long = [...sources('shared'), ...sources('functions')]
      .flatMap(functionLengths)
      .filter((f) => f.lines > MAX_LINES)
      .map((f) => `${f.name}: ${f.lines} lines`);
    expect(long).toEqual([]);
  });

  it(`keeps every Lua function of shared/store/lua within ${MAX_LINES} lines, nested functions counted in their parent`, () => {
    const long = sources('shared/store/lua', '.lua')
      .flatMap((path) => luaFunctions(readFileSync(join(root, path), 'utf8')).map((f) => ({ ...f, path })))
      .filter((f) => f.lines > MAX_LINES)
      .map((f) => `${f.path}:${f.line} ${f.name}: ${f.lines} lines`);
    expect(long).toEqual([]);
  });

  it('lets an include show other files only what its header offers (its private names live in a `do ... end` block)', () => {
    const unoffered = sources('shared/store/lua/includes', '.lua').flatMap((path) => {
      const text = readFileSync(join(root, path), 'utf8');
      const header = /^--\[\[[\s\S]*?\]\]/.exec(text)?.[0] ?? '';
      return luaTopLevelNames(text).filter((name) => !new RegExp(`\\b${name}\\b`).test(header)).map((name) => `${path}: ${name}`);
    });
    expect(unoffered).toEqual([]);
  });

  it('keeps KEYS and ARGV out of the includes: their functions take what they need as arguments', () => {
    const reads = sources('shared/store/lua/includes', '.lua').flatMap((path) =>
      [...luaTokens(readFileSync(join(root, path), 'utf8'))].filter((t) => t.word === 'KEYS' || t.word === 'ARGV').map((t) => `${path}:${t.line} ${t.word}`),
    );
    expect(reads).toEqual([]);
  });

  it('measures Lua functions from `function` to their `end`, past strings, comments and nested blocks', () => {
    const source = [
      '--[[ a header that says function and end ]]',
      'local function outer(a)',
      "  local s = 'end' .. \"function\" .. [[end]]",
      '  for i = 1, a do',
      '    while a > i do a = a - 1 end -- end',
      '  end',
      '  local inner = function(x) if x then return x end end',
      '  repeat a = a + 1 until a > 3',
      '  return inner',
      'end',
      'function M.f(x) do return x end end',
    ].join('\n');
    expect(luaFunctions(source)).toEqual([
      { line: 2, name: 'outer', lines: 9 },
      { line: 7, name: 'inner', lines: 1 },
      { line: 11, name: 'M.f', lines: 1 },
    ]);
    const long = `local function long()\n${'  x = x + 1\n'.repeat(MAX_LINES - 1)}end\n`;
    expect(luaFunctions(long)).toEqual([{ line: 1, name: 'long', lines: MAX_LINES + 1 }]);
    expect(luaTopLevelNames(`${source}\nlocal a, b = 1, 2\nlocal c\ndo local hidden = 1; function c() return hidden end end`)).toEqual(['outer', 'a', 'b', 'c']);
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
