// The executable examples of the documentation: a ```sh fence right after `<!-- example -->`, run as
// the shell would run it against `npm start` (http://localhost:8080), and the ```json fence after it,
// which holds what the commands print, in order. Only the shell the pages use is understood (curl,
// echo, gzip, pipes, `> /dev/null`, `for … in …; do …; done`): anything else is refused by name.
import { gzipSync } from 'node:zlib';

export const MARKER = '<!-- example -->';

export interface Example {
  /** 1-based line of the ```sh fence. */
  readonly line: number;
  readonly script: string;
  /** The ```json fence that follows, if any: every JSON value the script prints, in order. */
  readonly answer?: string;
}

interface Fence {
  readonly line: number;
  readonly lang: string;
  readonly body: string;
  /** The fence follows the example marker, blank lines apart. */
  readonly marked: boolean;
  /** The fence follows the previous fence, blank lines apart. */
  readonly adjacent: boolean;
}

function fences(markdown: string): Fence[] {
  const lines = markdown.split('\n');
  const out: Fence[] = [];
  let lastText = -1; // index of the last non-blank line outside a fence
  let lastFenceEnd = -2;
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!);
    if (!open) {
      if (lines[i]!.trim() !== '') lastText = i;
      continue;
    }
    const end = lines.indexOf('```', i + 1);
    if (end < 0) throw new Error(`line ${i + 1}: a fence that is never closed`);
    const marked = lastText >= 0 && lines[lastText]!.trim() === MARKER && lastText > lastFenceEnd;
    out.push({ line: i + 1, lang: open[1]!, body: lines.slice(i + 1, end).join('\n'), marked, adjacent: lastFenceEnd >= lastText });
    lastFenceEnd = end;
    lastText = end;
    i = end;
  }
  return out;
}

/** The marked examples of a page, in page order. */
export function examples(markdown: string): Example[] {
  const all = fences(markdown);
  return all.flatMap((fence, i) => {
    if (!fence.marked) return [];
    if (fence.lang !== 'sh') throw new Error(`line ${fence.line}: ${MARKER} marks a \`\`\`${fence.lang} fence, not \`\`\`sh`);
    const next = all[i + 1];
    const answer = next?.adjacent && next.lang === 'json' ? next.body : undefined;
    return [{ line: fence.line, script: fence.body, ...(answer === undefined ? {} : { answer }) }];
  });
}

/** Lines of ```sh fences with a curl command and a ```json answer after them that are not marked. */
export function unmarkedPairs(markdown: string): number[] {
  const all = fences(markdown);
  return all.flatMap((fence, i) =>
    !fence.marked && fence.lang === 'sh' && /\bcurl\b/.test(fence.body) && all[i + 1]?.adjacent && all[i + 1]?.lang === 'json' ? [fence.line] : [],
  );
}

/** Every JSON value of a text that holds several one after the other (what curl prints for several requests). */
export function jsonValues(text: string): unknown[] {
  const values: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (depth++ === 0) start = i;
    } else if (c === '}' || c === ']') {
      if (--depth === 0) values.push(JSON.parse(text.slice(start, i + 1)));
    } else if (depth === 0 && c.trim() !== '') throw new Error(`not a JSON object or array at "${text.slice(i, i + 20)}"`);
  }
  if (depth !== 0) throw new Error('a JSON value is cut short');
  return values;
}

// Words and operators of a script. A `$name` inside a word is kept as \0name\0 and expanded when run.
type Token = { word: string } | { op: ';' | '|' | '>' };

function tokenize(script: string): Token[] {
  const tokens: Token[] = [];
  let word: string | undefined;
  let i = 0;
  const flush = () => {
    if (word !== undefined) tokens.push({ word });
    word = undefined;
  };
  const variable = () => {
    const m = /^\$(?:\{(\w+)\}|(\w+))/.exec(script.slice(i));
    if (!m) throw new Error(`unsupported "$" in: ${script.slice(i, i + 20)}`);
    i += m[0].length;
    return `\0${m[1] ?? m[2]}\0`;
  };
  const doubleQuoted = () => {
    let text = '';
    for (i++; script[i] !== '"'; ) {
      if (i >= script.length) throw new Error('an unclosed double quote');
      const next = script[i + 1]!;
      if (script[i] === '\\' && '"\\$`\n'.includes(next)) {
        text += next === '\n' ? '' : next;
        i += 2;
      } else if (script[i] === '$') text += variable();
      else text += script[i++];
    }
    i++;
    return text;
  };
  while (i < script.length) {
    const c = script[i]!;
    if (c === '\\' && script[i + 1] === '\n') i += 2;
    else if (c === ' ' || c === '\t') {
      flush();
      i++;
    } else if (c === '\n' || c === ';' || c === '|' || c === '>') {
      flush();
      tokens.push({ op: c === '\n' ? ';' : c });
      i++;
    } else if (c === '#' && word === undefined) {
      while (i < script.length && script[i] !== '\n') i++;
    } else if (c === "'") {
      const end = script.indexOf("'", i + 1);
      if (end < 0) throw new Error('an unclosed single quote');
      word = (word ?? '') + script.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') word = (word ?? '') + doubleQuoted();
    else if (c === '$') word = (word ?? '') + variable();
    else if (c === '\\') {
      word = (word ?? '') + script[i + 1];
      i += 2;
    } else if ('&<`(){}'.includes(c)) throw new Error(`unsupported shell syntax "${c}"`);
    else {
      word = (word ?? '') + c;
      i++;
    }
  }
  flush();
  return tokens;
}

type Command = { for: string; items: string[]; body: Command[] } | { stages: string[][]; quiet: boolean };

const isWord = (t: Token | undefined, w?: string): t is { word: string } => t !== undefined && 'word' in t && (w === undefined || t.word === w);
const isOp = (t: Token | undefined, op: string) => t !== undefined && 'op' in t && t.op === op;

/** Commands up to the end or a `done`; returns them and the index after. */
function parse(tokens: Token[], at = 0, inLoop = false): [Command[], number] {
  const commands: Command[] = [];
  let i = at;
  while (i < tokens.length) {
    if (isOp(tokens[i], ';')) i++;
    else if (isWord(tokens[i], 'done')) {
      if (!inLoop) throw new Error('"done" without "for"');
      return [commands, i + 1];
    } else if (isWord(tokens[i], 'for')) {
      const name = tokens[i + 1];
      if (!isWord(name) || !isWord(tokens[i + 2], 'in')) throw new Error('expected "for NAME in WORDS; do …; done"');
      const items: string[] = [];
      for (i += 3; isWord(tokens[i]) && !isWord(tokens[i], 'do'); i++) items.push((tokens[i] as { word: string }).word);
      while (isOp(tokens[i], ';')) i++;
      if (!isWord(tokens[i], 'do')) throw new Error('expected "do"');
      const [body, next] = parse(tokens, i + 1, true);
      commands.push({ for: name.word, items, body });
      i = next;
    } else {
      const stages: string[][] = [[]];
      let quiet = false;
      for (; i < tokens.length && !isOp(tokens[i], ';'); i++) {
        const t = tokens[i]!;
        if (isOp(t, '|')) stages.push([]);
        else if (isOp(t, '>')) {
          if (!isWord(tokens[i + 1], '/dev/null')) throw new Error('only "> /dev/null" is understood');
          quiet = true;
          i++;
        } else stages.at(-1)!.push((t as { word: string }).word);
      }
      commands.push({ stages, quiet });
    }
  }
  if (inLoop) throw new Error('"for" without "done"');
  return [commands, i];
}

/** A request as curl would send it: method, URL on `base` instead of localhost:8080, headers, body. */
export function curlRequest(args: readonly string[], base: string, stdin?: Buffer): { method: string; url: string; headers: Record<string, string>; body?: Buffer } {
  let method: string | undefined;
  let url: string | undefined;
  let body: Buffer | undefined;
  const headers: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`curl ${arg} needs a value`);
      return v;
    };
    if (['-s', '-S', '-sS', '--silent', '--show-error'].includes(arg)) continue;
    else if (arg === '-X' || arg === '--request') method = value();
    else if (arg === '-H' || arg === '--header') {
      const [name, ...rest] = value().split(':');
      headers[name!.trim().toLowerCase()] = rest.join(':').trim();
    } else if (['-d', '--data', '--data-raw', '--data-binary'].includes(arg)) {
      if (body) throw new Error('one -d per curl command');
      const v = value();
      if (v === '@-' && arg !== '--data-raw') {
        if (!stdin) throw new Error('curl reads @- but nothing is piped into it');
        body = stdin;
      } else body = Buffer.from(v);
    } else if (arg.startsWith('-')) throw new Error(`curl option ${arg} is not understood by the example runner`);
    else if (url) throw new Error('one URL per curl command');
    else url = arg;
  }
  if (!url) throw new Error('curl without a URL');
  const m = /^(?:http:\/\/)?localhost:8080(\/.*)?$/.exec(url);
  if (!m) throw new Error(`examples address http://localhost:8080, not ${url}`);
  if (body && !headers['content-type']) headers['content-type'] = 'application/x-www-form-urlencoded'; // as curl does
  return { method: method ?? (body ? 'POST' : 'GET'), url: base + (m[1] ?? '/'), headers, ...(body ? { body } : {}) };
}

async function runStages(stages: string[][], base: string): Promise<Buffer> {
  let data: Buffer | undefined;
  for (const [name, ...args] of stages) {
    if (name === 'echo') data = Buffer.from(`${args.join(' ')}\n`);
    else if (name === 'gzip' && args.length === 0) data = gzipSync(data ?? Buffer.alloc(0));
    else if (name === 'curl') {
      const r = curlRequest(args, base, data);
      const response = await fetch(r.url, { method: r.method, headers: r.headers, ...(r.body ? { body: new Uint8Array(r.body) } : {}) });
      data = Buffer.from(await response.arrayBuffer());
    } else throw new Error(`the example runner knows curl, echo and gzip, not ${name ?? 'an empty command'}`);
  }
  return data ?? Buffer.alloc(0);
}

/**
 * Runs a script against `base` (the server that stands for localhost:8080), waiting `pause` ms between
 * requests as a person at a terminal would (so that no two requests share a millisecond), and returns what
 * it prints.
 */
export async function runScript(script: string, base: string, pause = 5): Promise<string> {
  const [commands] = parse(tokenize(script));
  let printed = '';
  const run = async (list: Command[], vars: Record<string, string>): Promise<void> => {
    const expand = (w: string) => w.replace(/\0(\w+)\0/g, (_, name: string) => {
      if (!(name in vars)) throw new Error(`$${name} is not set`);
      return vars[name]!;
    });
    for (const command of list) {
      if ('for' in command) {
        for (const item of command.items.map(expand)) await run(command.body, { ...vars, [command.for]: item });
        continue;
      }
      const out = await runStages(command.stages.map((s) => s.map(expand)), base);
      if (!command.quiet) printed += out.toString('utf8');
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  };
  await run(commands, {});
  return printed;
}

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/**
 * `actual` with each time of the run (an ISO time from `since` on) replaced by the page's value at the
 * same place, when the page has a time there: the page shows the times of one run, and they are checked
 * to be times, not equal. Every other value is left for an exact comparison.
 */
export function maskRunTimes(actual: unknown, page: unknown, since: number): unknown {
  if (typeof actual === 'string' && ISO_TIME.test(actual) && Date.parse(actual) >= since - 1000 && Date.parse(actual) <= Date.now() + 1000)
    return typeof page === 'string' && ISO_TIME.test(page) ? page : actual;
  if (Array.isArray(actual)) return actual.map((v, i) => maskRunTimes(v, Array.isArray(page) ? page[i] : undefined, since));
  if (actual && typeof actual === 'object') {
    const p = page && typeof page === 'object' && !Array.isArray(page) ? (page as Record<string, unknown>) : {};
    return Object.fromEntries(Object.entries(actual).map(([k, v]) => [k, maskRunTimes(v, p[k], since)]));
  }
  return actual;
}
