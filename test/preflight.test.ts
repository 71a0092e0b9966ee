import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// A folder of stand-ins for the suite's programs (empty scripts that can be run), all but `leave`.
const dir = mkdtempSync(join(tmpdir(), 'iot-preflight-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runWithout(leave: string[]) {
  const bin = mkdtempSync(join(dir, 'bin-'));
  for (const program of ['redis-server', 'redis-cli', 'prometheus', 'promtool', 'prometheus-pushgateway', 'amtool', 'kubectl', 'openssl']) {
    if (leave.includes(program)) continue;
    writeFileSync(join(bin, program), '#!/bin/sh\n');
    chmodSync(join(bin, program), 0o755);
  }
  return spawnSync(process.execPath, ['scripts/preflight.js'], { env: { PATH: `${bin}:${dirname(process.execPath)}` }, encoding: 'utf8' });
}

describe('npm test checks its programs first', () => {
  it('names a missing program and the package that brings it, in one line, and stops', () => {
    const run = runWithout(['amtool']);
    expect(run.status).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^npm test needs amtool(, \/usr\/bin\/chromium)?: install with {2}sudo apt-get install -y prometheus-alertmanager( chromium)?$/);
  });

  it('names every missing program once and each package once', () => {
    const run = runWithout(['prometheus', 'promtool', 'redis-cli']);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/needs redis-cli, prometheus, promtool/);
    expect(run.stderr).toMatch(/apt-get install -y redis-tools prometheus( chromium)?\n$/);
  });

  it('is silent when nothing is missing', () => {
    const run = runWithout([]);
    // Debian's Chromium is looked for where the browser test starts it; a machine without it is told so.
    if (run.status === 0) expect(run.stderr).toBe('');
    else expect(run.stderr).toMatch(/^npm test needs \/usr\/bin\/chromium: install with {2}sudo apt-get install -y chromium\n$/);
  });
});
