import { type ParseArgsConfig, parseArgs } from 'node:util';

/** One option of a command: node's parseArgs config plus the line `--help` prints for it. */
export type OptionSpec = { type: 'string' | 'boolean'; default?: string | boolean; short?: string; doc: string; arg?: string };

export interface CommandSpec<O extends Record<string, OptionSpec>> {
  /** How to run it, e.g. `npm run simulate -- [options]`. */
  usage: string;
  /** One or two lines on what it does. */
  summary: string;
  options: O;
  examples: readonly string[];
  positionals?: boolean;
}

type Values<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K]['type'] extends 'boolean' ? boolean | undefined : string | undefined;
};

/** The text `--help` prints: usage, summary, one line per option, examples. */
export function helpText(spec: CommandSpec<Record<string, OptionSpec>>): string {
  const rows = Object.entries(spec.options).map(([name, o]) => {
    const flag = `--${name}${o.type === 'string' ? ` <${o.arg ?? 'value'}>` : ''}`;
    const fallback = o.default === undefined || o.default === false ? '' : ` (default: ${o.default})`;
    return [flag, `${o.doc}${fallback}`] as const;
  });
  rows.push(['--help', 'print this help and exit']);
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  return [
    `usage: ${spec.usage}`,
    '',
    spec.summary,
    '',
    'options:',
    ...rows.map(([flag, doc]) => `  ${flag.padEnd(width)}${doc}`),
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

/**
 * Parses the command line strictly: `--help` prints the help and exits 0; an unknown option, a
 * missing value or a stray argument is one line on stderr and exit code 2.
 */
export function parseCommandLine<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  args: string[] = process.argv.slice(2),
): { values: Values<O>; positionals: string[] } {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(helpText(spec));
    process.exit(0);
  }
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, { type, default: fallback, short }] of Object.entries(spec.options)) {
    options[name] = { type, ...(fallback === undefined ? {} : { default: fallback }), ...(short ? { short } : {}) } as never;
  }
  try {
    const parsed = parseArgs({ args, options, strict: true, allowPositionals: spec.positionals ?? false });
    return { values: parsed.values as Values<O>, positionals: parsed.positionals };
  } catch (error) {
    return usageError((error as Error).message.split('\n')[0]!);
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
