import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { type Running, freePort, stopProcess, waitFor } from './servers.js';

const repo = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));

function launch(command: string, args: string[], dir: string, readyUrl: string): Promise<Running> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (e) => reject(new Error(`${command} could not start (${e.message}); install it: apt-get install ${command === 'prometheus' ? 'prometheus' : 'prometheus-pushgateway'}`)));
  });
  const url = readyUrl.replace(/\/-\/ready$/, '');
  return Promise.race([
    waitFor(command, async () => (await fetch(readyUrl)).ok, child).then(() => ({
      url,
      port: Number(new URL(url).port),
      process: child,
      async stop() {
        await stopProcess(child);
        rmSync(dir, { recursive: true, force: true });
      },
    })),
    failed,
  ]).catch(async (error: Error) => {
    await stopProcess(child);
    throw new Error(`${error.message}\n${output}`);
  });
}

/** A Pushgateway on a free loopback port (or `port`) that keeps nothing on disk (Debian's default persists to /var/lib). */
export async function startPushgateway(port?: number): Promise<Running> {
  port ??= await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'iot-pgw-'));
  return launch('prometheus-pushgateway', [`--web.listen-address=127.0.0.1:${port}`, '--persistence.file='], dir, `http://127.0.0.1:${port}/-/ready`);
}

/**
 * Prometheus with the repository's own config and rules, pointed at `pushgateway` and sped up
 * (1 s scrape and rule evaluation) for the test; its data lives in a temporary folder.
 */
export async function startPrometheus(pushgateway: string): Promise<Running> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'iot-prom-'));
  const config = parse(readFileSync(repo('prometheus/prometheus.yml'), 'utf8')) as {
    global: Record<string, string>;
    rule_files: string[];
    alerting?: unknown;
    scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }>;
  };
  config.global.scrape_interval = '1s';
  config.global.evaluation_interval = '1s';
  config.rule_files = config.rule_files.map((file) => repo(`prometheus/${file}`));
  // The tests read alerts from Prometheus itself; there is no Alertmanager to send them to.
  delete config.alerting;
  config.scrape_configs[0]!.static_configs = [{ targets: [new URL(pushgateway).host] }];
  // JSON is YAML: Prometheus reads it as it is.
  writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config));
  return launch(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    dir,
    `http://127.0.0.1:${port}/-/ready`,
  );
}

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** Evaluates an instant PromQL query through the HTTP API. */
export async function query(prometheus: string, expr: string): Promise<Sample[]> {
  const response = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await response.json()) as { status: string; error?: string; data?: { result: Sample[] } };
  if (body.status !== 'success') throw new Error(`query failed: ${expr}: ${body.error}`);
  return body.data!.result;
}
