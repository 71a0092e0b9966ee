import { execFileSync } from 'node:child_process';

/** The global setup of the system tier: a fresh dist/ for the tests that run the built package as processes. */
export function setup(): void {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
}
