// npm test, first step: every external program the selected test tiers start, checked in well under a
// second, so a machine without one hears it at once, in one line with the command that installs it,
// instead of failing minutes into the run. (.ci/run installs the same packages.)
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

/** Tier (a folder of test/ and a vitest project) → the programs its tests start. */
export const TIERS = {
  unit: [],
  integration: ['redis-server'],
  system: Object.keys(TOOLS),
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

/** What needs the programs, as the one line names it: npm test for every tier, else the tier's script. */
function who(tiers) {
  if (tiers.length === Object.keys(TIERS).length) return 'npm test needs';
  return tiers.length === 1 ? `npm run test:${tiers[0]} needs` : `the ${tiers.join(' and ')} tests need`;
}

/** The programs the given tiers need that are missing from `path`, and the one line that says so (undefined when none is). */
export function preflight(path = process.env.PATH ?? '', tiers = Object.keys(TIERS)) {
  const needed = Object.keys(TOOLS).filter((program) => tiers.some((tier) => TIERS[tier].includes(program)));
  const missing = needed.filter((program) => !found(program, path));
  if (missing.length === 0) return { missing, line: undefined };
  const packages = [...new Set(missing.map((program) => TOOLS[program]))];
  const line = `${who(tiers)} ${missing.join(', ')}: install with  sudo apt-get install -y ${packages.join(' ')}`;
  return { missing, line };
}

const HELP = `usage: node scripts/preflight.js [tier ...]  (the first step of npm test and npm run test:<tier>)

Checks that every program the tests of the given tiers start is on PATH (all tiers when none is given:
unit needs none, integration redis-server, system all of them); when one is missing, prints one line
naming the missing programs and the apt-get command that installs them, and exits 1. Prints nothing
otherwise.

options:
  --help  print this help and exit

environment:
  PATH  where the programs are looked for

examples:
  node scripts/preflight.js
  node scripts/preflight.js integration
`;

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const wrong = args.find((arg) => !Object.hasOwn(TIERS, arg));
  if (wrong !== undefined) {
    const what = wrong.startsWith('-') ? `Unknown option '${wrong}'` : `Unknown tier '${wrong}': one of ${Object.keys(TIERS).join(', ')}`;
    process.stderr.write(`${what} (see --help)\n`);
    process.exit(2);
  }
  const { line } = preflight(undefined, args.length > 0 ? [...new Set(args)] : undefined);
  if (line) {
    process.stderr.write(`${line}\n`);
    process.exit(1);
  }
}
