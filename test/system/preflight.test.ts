import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// A folder of stand-ins for the suite's programs (empty scripts that can be run), all but `leave`.
const dir = mkdtempSync(join(tmpdir(), 'iot-preflight-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ALL = ['redis-server', 'redis-cli', 'prometheus', 'promtool', 'prometheus-pushgateway', 'amtool', 'kubectl', 'openssl'];

function runWithout(leave: string[], tiers: string[] = []) {
  const bin = mkdtempSync(join(dir, 'bin-'));
  for (const program of ALL) {
    if (leave.includes(program)) continue;
    writeFileSync(join(bin, program), '#!/bin/sh\n');
    chmodSync(join(bin, program), 0o755);
  }
  return spawnSync(process.execPath, ['scripts/preflight.js', ...tiers], { env: { PATH: `${bin}:${dirname(process.execPath)}` }, encoding: 'utf8' });
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

describe('npm run test:<tier> checks only what that tier starts', () => {
  it('unit needs no program at all', () => {
    const run = runWithout(ALL, ['unit']);
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('');
  });

  it('integration needs redis-server alone', () => {
    expect(runWithout(['amtool', 'kubectl', 'prometheus'], ['integration'])).toMatchObject({ status: 0, stderr: '' });
    const run = runWithout(['redis-server', 'amtool'], ['integration']);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe('npm run test:integration needs redis-server: install with  sudo apt-get install -y redis-server\n');
  });

  it('system needs the rest', () => {
    const run = runWithout(['kubectl'], ['system']);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^npm run test:system needs kubectl(, \/usr\/bin\/chromium)?: install with {2}sudo apt-get install -y kubernetes-client( chromium)?\n$/);
  });

  it('refuses a tier it does not know, in one line, with exit code 2', () => {
    const run = runWithout([], ['functional']);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe("Unknown tier 'functional': one of unit, integration, system (see --help)\n");
  });
});
