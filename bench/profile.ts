import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const CATEGORIES: Array<[name: string, test: (url: string, fn: string) => boolean]> = [
  ['idle', (_u, f) => f === '(idle)'],
  ['gc', (_u, f) => f === '(garbage collector)'],
  ['ioredis', (u) => /node_modules\/(ioredis|@ioredis|redis-parser|standard-as-callback|cluster-key-slot|denque)\//.test(u)],
  ['framework (functions-framework, express)', (u) => /node_modules\/(@google-cloud|express|router|body-parser|finalhandler|on-finished|raw-body|send|type-is|content-type|accepts|negotiator|mime|qs|iconv-lite|statuses|http-errors|depd|debug|ms|parseurl|proxy-addr|forwarded|cookie|vary|encodeurl|escape-html|etag|fresh|range-parser|destroy|media-typer|content-disposition|merge-descriptors|path-to-regexp|bytes|unpipe|ee-first)\//.test(u)],
  // The event schemas and the body checks (shared/schemas.ts and shared/requests.ts before the layout
  // in wings): the same code as in earlier runs' profiles, so their splits stay comparable.
  ['validation (shared/schemas)', (u) => /\/shared\/(schemas\/[\w-]+|http\/parse)\.js$/.test(u)],
  ['JSON parse/stringify', (u, f) => u === '' && /^(parse|stringify|JSON\.parse|JSON\.stringify)$/.test(f)],
  ['prom-client', (u) => /node_modules\/(prom-client|tdigest|bintrees)\//.test(u)],
  ['service code', (u) => /\/dist\/(shared|functions)\//.test(u)],
  ['node http/net/streams', (u) => u.startsWith('node:')],
  ['other native / V8', () => true],
];

/** Self time of a V8 CPU profile split into categories, as percentages of non-idle time. */
export function splitProfile(file: string): Record<string, number> {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const category = new Map<number, string>();
  for (const node of profile.nodes) {
    const { url, functionName } = node.callFrame;
    category.set(node.id, CATEGORIES.find(([, test]) => test(url, functionName))![0]);
  }
  const totals = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const name = category.get(id)!;
    totals.set(name, (totals.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  totals.delete('idle');
  const busy = [...totals.values()].reduce((a, b) => a + b, 0) || 1;
  return Object.fromEntries(
    [...totals].sort(([, a], [, b]) => b - a).map(([name, us]) => [name, Math.round((1000 * us) / busy) / 10]),
  );
}
