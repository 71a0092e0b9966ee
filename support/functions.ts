import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type Running, freePort, stopProcess, waitFor } from './servers.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const frameworkMain = fileURLToPath(new URL('../node_modules/@google-cloud/functions-framework/build/src/main.js', import.meta.url));

export interface FunctionOptions {
  /** A module to load instead of the package's entry point. */
  source?: string;
  /** Flags for node itself, such as --cpu-prof. */
  nodeArgs?: string[];
  /** A command node runs under, such as valgrind and its flags. */
  wrapper?: string[];
  /** How long it may take to answer its health path (15 s). */
  timeoutMs?: number;
}

/** Runs one function target of the built package as its own process, the way the framework's CLI does. */
export async function startFunction(
  target: string,
  env: Record<string, string>,
  options: FunctionOptions = {},
): Promise<Running & { output(): string }> {
  const port = await freePort();
  const args = [...(options.nodeArgs ?? []), frameworkMain, `--target=${target}`, `--port=${port}`];
  if (options.source) args.push(`--source=${options.source}`);
  const [command, ...prefix] = [...(options.wrapper ?? []), process.execPath];
  const child = spawn(command!, [...prefix, ...args], {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(`${target} on ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`${target} exited: ${output}`);
      return (await fetch(`${url}/health`)).ok;
    }, child, options.timeoutMs);
  } catch (error) {
    await stopProcess(child);
    throw new Error(`${(error as Error).message}\n${output}`);
  }
  return { url, port, process: child, stop: () => stopProcess(child), output: () => output };
}
