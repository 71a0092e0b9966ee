import { type ParseArgsConfig, parseArgs } from 'node:util';

/** One option of a command: node's parseArgs config plus the line `--help` prints for it. */
export type OptionSpec = { type: 'string' | 'boolean'; default?: string | boolean; short?: string; doc: string; arg?: string };

export interface CommandSpec<O extends Record<string, OptionSpec>> {
  /** How to run it, e.g. `npm run simulate -- [options]`. */
  usage: string;
  /** One or two lines on what it does. */
  summary: string;
  options: O;
  /** Environment variables it reads, each with one line: what it sets and its default. */
  environment?: Readonly<Record<string, string>>;
  examples: readonly string[];
  positionals?: boolean;
}

type Values<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K]['type'] extends 'boolean' ? boolean | undefined : string | undefined;
};

/** Lines of `  name  doc`, the docs aligned. */
const table = (rows: ReadonlyArray<readonly [string, string]>) => {
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  return rows.map(([name, doc]) => `  ${name.padEnd(width)}${doc}`);
};

/** The text `--help` prints: usage, summary, one line per option and per environment variable, examples. */
export function helpText(spec: CommandSpec<Record<string, OptionSpec>>): string {
  const rows = Object.entries(spec.options).map(([name, o]) => {
    const flag = `--${name}${o.type === 'string' ? ` <${o.arg ?? 'value'}>` : ''}`;
    const fallback = o.default === undefined || o.default === false ? '' : ` (default: ${o.default})`;
    return [flag, `${o.doc}${fallback}`] as const;
  });
  rows.push(['--help', 'print this help and exit']);
  const environment = Object.entries(spec.environment ?? {});
  return [
    `usage: ${spec.usage}`,
    '',
    spec.summary,
    '',
    'options:',
    ...table(rows),
    ...(environment.length === 0 ? [] : ['', 'environment:', ...table(environment)]),
    '',
    'examples:',
    ...spec.examples.map((e) => `  ${e}`),
    '',
  ].join('\n');
}

/** A mistake on the command line: one line on stderr and exit code 2, never a stack trace. */
export function usageError(message: string): never {
  console.error(`${message} (see --help)`);
  process.exit(2);
}

/** An argument that starts like a negative number (`-1`, `-0.5`, `-1,2`, `-30d`), which parseArgs would take for an option. */
const NEGATIVE = /^-\.?\d/;

/**
 * Joins an option that takes a value to a following negative number (`--seed -1` → `--seed=-1`,
 * `-s -1` → `-s-1`), so that parseArgs reads it as the value; its validator then says the range.
 * Nothing after `--` is touched.
 */
export function attachNegativeValues(args: readonly string[], options: Readonly<Record<string, OptionSpec>>): string[] {
  const takesValue = (arg: string) =>
    arg.startsWith('--')
      ? Object.hasOwn(options, arg.slice(2)) && options[arg.slice(2)]!.type === 'string'
      : /^-[^-]$/.test(arg) && Object.values(options).some((o) => o.type === 'string' && o.short === arg[1]);
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return [...out, ...args.slice(i)];
    const next = args[i + 1];
    if (next !== undefined && NEGATIVE.test(next) && takesValue(arg)) {
      out.push(arg.startsWith('--') ? `${arg}=${next}` : `${arg}${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/** parseArgs' error as one line: its first sentence, without the advice that spans several. */
function oneLine(error: unknown): string {
  const { code, message } = error as { code?: string; message: string };
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /^Unknown option '(.*?)'(?:\. |$)/.exec(message)?.[1];
    if (option !== undefined) return `Unknown option '${option}'`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const ambiguous = /^Option '(.*?)' argument is ambiguous/.exec(message)?.[1];
    if (ambiguous !== undefined) {
      const example = ambiguous.startsWith('--') ? `${ambiguous}=<value>` : `${ambiguous}<value>`;
      return `Option '${ambiguous}' needs a value: to give one that starts with '-', write ${example}`;
    }
    const missing = /^Option '(.*?)(?: <value>)?' argument missing/.exec(message)?.[1];
    if (missing !== undefined) return `Option '${missing}' needs a value`;
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const argument = /^Unexpected argument '(.*?)'\. /.exec(message)?.[1];
    if (argument !== undefined) return `Unexpected argument '${argument}': this command takes none`;
  }
  return message.split('\n')[0]!.replace(/\.$/, '');
}

/**
 * Parses the command line strictly: `--help` prints the help and exits 0; an unknown option, a
 * missing value or a stray argument is one line on stderr and exit code 2. A negative number is a
 * value, not an option (`--seed -1` is `--seed=-1`).
 */
export function parseCommandLine<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  args: string[] = process.argv.slice(2),
): { values: Values<O>; positionals: string[] } {
  const end = args.indexOf('--');
  const flags = end === -1 ? args : args.slice(0, end);
  if (flags.includes('--help') || flags.includes('-h')) {
    process.stdout.write(helpText(spec));
    process.exit(0);
  }
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, { type, default: fallback, short }] of Object.entries(spec.options)) {
    options[name] = { type, ...(fallback === undefined ? {} : { default: fallback }), ...(short ? { short } : {}) } as never;
  }
  try {
    const parsed = parseArgs({ args: attachNegativeValues(args, spec.options), options, strict: true, allowPositionals: spec.positionals ?? false });
    return { values: parsed.values as Values<O>, positionals: parsed.positionals };
  } catch (error) {
    return usageError(oneLine(error));
  }
}

/** A failure the user can act on (a file that cannot be read or written, a refused input): one line on stderr, exit code 1. */
export class CommandFailure extends Error {
  override readonly name: string = 'CommandFailure';
}

/** Runs a command's body; a CommandFailure ends it with its one-line message and exit code 1, anything else is a bug and keeps its stack. */
export async function runCommand(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    if (!(error instanceof CommandFailure)) throw error;
    console.error(error.message);
    process.exitCode = 1;
  }
}
