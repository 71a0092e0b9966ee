// The ingest pod as knative/ingest.yaml deploys it, and the load it must survive: read from the manifest
// (never copied), so the bench and the tests measure what is deployed.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export interface PodOptions {
  /** Requests Knative sends one pod at once (`containerConcurrency`). */
  readonly concurrency: number;
  /** The container's memory limit, in MiB: over it, Kubernetes kills the pod. */
  readonly memoryLimitMb: number;
  /** The function container's plain `env` values (NODE_OPTIONS, the admission budget …). */
  readonly env: Record<string, string>;
}

const MANIFEST = fileURLToPath(new URL('../knative/ingest.yaml', import.meta.url));

/** The ingest Service's pod options, from knative/ingest.yaml. */
export function ingestPod(manifest = MANIFEST): PodOptions {
  const service = parse(readFileSync(manifest, 'utf8')) as { spec: { template: { spec: PodSpec } } };
  const spec = service.spec.template.spec;
  const container = spec.containers.find((c) => c.name === 'function')!;
  const env = Object.fromEntries(container.env.flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value]])));
  return { concurrency: spec.containerConcurrency, memoryLimitMb: mebibytes(container.resources.limits.memory), env };
}

interface PodSpec {
  containerConcurrency: number;
  containers: Array<{ name: string; env: Array<{ name: string; value?: string }>; resources: { limits: { memory: string } } }>;
}

function mebibytes(quantity: string): number {
  const match = /^(\d+)(Mi|Gi)$/.exec(quantity);
  if (!match) throw new Error(`memory limit ${quantity}: expected Mi or Gi`);
  return Number(match[1]) * (match[2] === 'Gi' ? 1024 : 1);
}

export interface LoadTally {
  /** Answers by status code (503s with their error code), and socket errors by code. */
  readonly statuses: Record<string, number>;
  /** Events the service acknowledged (202: a single event, or a batch's `accepted`). */
  acknowledged: number;
  /** Refusals (503) that came without a Retry-After header. */
  refusalsWithoutRetryAfter: number;
}

/**
 * `clients` keep-alive clients, each sending `bodies` (cycled, `path`) back to back until `until`; counts
 * what came back and the events acknowledged. A refusal is not re-sent: the tally is what a client saw.
 */
export async function sendUntil(url: string, path: string, bodies: readonly string[], clients: number, until: number, tally: LoadTally): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const target = new URL(url);
  const client = async (offset: number) => {
    for (let i = offset; Date.now() < until; i++) {
      const { status, retryAfter, text } = await post(agent, target, path, bodies[i % bodies.length]!);
      const key = status === 503 ? `503 ${errorCode(text)}` : String(status);
      (tally.statuses as Record<string, number>)[key] = (tally.statuses[key] ?? 0) + 1;
      if (status === 202) tally.acknowledged += path.endsWith('batch') ? (JSON.parse(text) as { accepted: number }).accepted : 1;
      if (status === 503 && !retryAfter) tally.refusalsWithoutRetryAfter++;
      if (typeof status !== 'number') await new Promise((r) => setTimeout(r, 50));
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  agent.destroy();
}

function errorCode(text: string): string {
  try {
    return String((JSON.parse(text) as { error?: unknown }).error);
  } catch {
    return 'unreadable';
  }
}

function post(agent: Agent, target: URL, path: string, body: string): Promise<{ status: number | string; retryAfter?: string; text: string }> {
  return new Promise((resolve) => {
    const req = request(
      { host: target.hostname, port: target.port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'], text }));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ status: error.code ?? 'error', text: '' }));
    req.end(body);
  });
}
