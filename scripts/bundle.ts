// npm run bundle: makes each functions/<name>/ a directory that builds on its own (what `func build`
// needs): functions/<name>/build/index.js holds the function and everything it uses from shared/ and
// node_modules, with the Lua scripts beside it. functions-framework stays external: the runtime loads
// it, and the function must register into that copy (functions/<name>/package.json depends on it).
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { parseCommandLine } from '../support/cli.js';

export const FUNCTIONS = ['ingest', 'analyze', 'stats'] as const;
const repo = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));

/** Bundles one function into `<outRoot>/<name>/build/`. */
export async function bundle(name: string, outRoot = repo('functions')): Promise<string> {
  const outdir = join(outRoot, name, 'build');
  rmSync(outdir, { recursive: true, force: true });
  await build({
    entryPoints: [repo(`functions/${name}/index.ts`)],
    outfile: join(outdir, 'index.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['@google-cloud/functions-framework'],
    // Prefer a package's ES module build: jsonc-parser's UMD build requires its files dynamically.
    mainFields: ['module', 'main'],
    // CommonJS dependencies (ioredis) call require(); give the ES module bundle one.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    sourcemap: true,
    logLevel: 'warning',
  });
  cpSync(repo('shared/store/lua'), join(outdir, 'lua'), { recursive: true });
  return outdir;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  parseCommandLine({
    usage: 'npm run bundle',
    summary: 'Bundles each function with the shared code into functions/<name>/build/ (what `func build` needs).',
    options: {},
    examples: ['npm run bundle && func build --path functions/ingest'],
  });
  for (const name of FUNCTIONS) console.log(`bundled ${await bundle(name)}`);
}
