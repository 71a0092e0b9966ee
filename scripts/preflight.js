// npm test, first step: every external program the suite starts, checked in well under a second, so a
// machine without one hears it at once, in one line with the command that installs it, instead of
// failing minutes into the run. (.ci/run installs the same packages.)
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Program → the Debian package that brings it. */
export const TOOLS = {
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
  prometheus: 'prometheus',
  promtool: 'prometheus',
  'prometheus-pushgateway': 'prometheus-pushgateway',
  amtool: 'prometheus-alertmanager',
  kubectl: 'kubernetes-client',
  openssl: 'openssl',
  '/usr/bin/chromium': 'chromium',
};

function found(program, path) {
  const candidates = program.startsWith('/') ? [program] : path.split(delimiter).filter(Boolean).map((dir) => join(dir, program));
  return candidates.some((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The programs missing from `path`, and the one line that says so (undefined when none is). */
export function preflight(path = process.env.PATH ?? '') {
  const missing = Object.keys(TOOLS).filter((program) => !found(program, path));
  if (missing.length === 0) return { missing, line: undefined };
  const packages = [...new Set(missing.map((program) => TOOLS[program]))];
  const line = `npm test needs ${missing.join(', ')}: install with  sudo apt-get install -y ${packages.join(' ')}`;
  return { missing, line };
}

const HELP = `usage: node scripts/preflight.js  (the first step of npm test)

Checks that every program the test suite starts is on PATH; when one is missing, prints one line naming
the missing programs and the apt-get command that installs them, and exits 1. Prints nothing otherwise.

options:
  --help  print this help and exit

environment:
  PATH  where the programs are looked for

examples:
  node scripts/preflight.js
`;

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  if (args.length > 0) {
    process.stderr.write(`${args[0].startsWith('-') ? 'Unknown option' : 'Unexpected argument'} '${args[0]}' (see --help)\n`);
    process.exit(2);
  }
  const { line } = preflight();
  if (line) {
    process.stderr.write(`${line}\n`);
    process.exit(1);
  }
}
