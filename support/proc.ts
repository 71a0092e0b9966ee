// What the bench and the soak read of a function process from /proc: CPU time and resident memory.
import { readFileSync } from 'node:fs';

/** User + system CPU time of a process so far, in µs (from /proc, 100 ticks a second). */
export function cpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** Resident set size of a process, in MB. */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** Samples a process's RSS every `everyMs` (a second) from now on; the returned stop takes one last sample and hands all of them back. */
export function sampleRss(pid: number, everyMs = 1000): () => number[] {
  const samples: number[] = [];
  const sample = () => {
    try {
      samples.push(rssMb(pid));
    } catch {
      // the process has exited: its last samples stand
    }
  };
  const timer = setInterval(sample, everyMs);
  return () => {
    clearInterval(timer);
    sample();
    return samples;
  };
}
