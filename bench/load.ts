import { Agent, request } from 'node:http';
import autocannon from 'autocannon';
import { build as buildHistogram } from 'hdr-histogram-js';

export interface BodyRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  /** A binary body instead of `body` (OTLP protobuf), and headers over the default JSON Content-Type. */
  bytes?: Buffer;
  headers?: Record<string, string>;
}

export interface Throughput {
  /** Mean completed requests per second. */
  rps: number;
  p50: number;
  p99: number;
  /** Responses other than 2xx, plus socket errors and timeouts. */
  failures: number;
  requests: number;
}

/** Closed loop: `connections` clients send back to back for `seconds`, cycling through `requests`. */
export async function closedLoop(url: string, requests: BodyRequest[], seconds: number, connections = 32): Promise<Throughput> {
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    headers: { 'content-type': 'application/json' },
    requests: requests.map((r) => ({ method: r.method, path: r.path, body: r.bytes ?? r.body, ...(r.headers ? { headers: { 'content-type': 'application/json', ...r.headers } } : {}) })),
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.non2xx + result.errors + result.timeouts,
    requests: result.requests.total,
  };
}

export interface OpenLoopResult {
  offered: number;
  sent: number;
  failures: number;
  /** Failures by status code or socket error code. */
  reasons: Record<string, number>;
  p50: number;
  p99: number;
  p999: number;
}

/**
 * Open loop: requests leave on a fixed schedule whatever the server does, and each latency is taken from
 * the moment the request was due, so a stall is charged to every request it delayed (no coordinated omission).
 */
export async function openLoop(url: string, requests: BodyRequest[], rate: number, seconds: number): Promise<OpenLoopResult> {
  const target = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: 512 });
  const histogram = buildHistogram({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const total = Math.round(rate * seconds);
  let sent = 0;
  let failures = 0;
  const reasons: Record<string, number> = {};
  const fail = (reason: string) => {
    failures++;
    reasons[reason] = (reasons[reason] ?? 0) + 1;
  };
  const pending: Array<Promise<void>> = [];
  const start = performance.now();

  const fire = (r: BodyRequest, due: number) =>
    new Promise<void>((resolve) => {
      const req = request(
        { host: target.hostname, port: target.port, path: r.path, method: r.method, agent, headers: { 'content-type': 'application/json' } },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode! >= 300) fail(String(res.statusCode));
            histogram.recordValue(Math.max(1, Math.round((performance.now() - due) * 1000)));
            resolve();
          });
        },
      );
      req.on('error', (error: NodeJS.ErrnoException) => {
        fail(error.code ?? error.message);
        resolve();
      });
      req.end(r.body);
    });

  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000));
    while (sent < due) {
      pending.push(fire(requests[sent % requests.length]!, start + (sent * 1000) / rate));
      sent++;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  agent.destroy();
  const ms = (q: number) => histogram.getValueAtPercentile(q) / 1000;
  return { offered: rate, sent, failures, reasons, p50: ms(50), p99: ms(99), p999: ms(99.9) };
}
