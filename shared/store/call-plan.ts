import calculateSlot from 'cluster-key-slot';
import type { DeviceRun } from './record-script.js';

/**
 * Values one record call may carry. A call holds Redis while it runs (no other command is served), so
 * its size is bounded; a run is never split (it is one atomic unit), so a single run above the bound
 * makes a call of its own. A call's fixed price is small next to its work per value (~2.5 µs against
 * 7-20 µs per value, BENCHMARKS.md), so small calls cost nothing measurable and keep each call short.
 */
export const CALL_VALUES = 64;

/**
 * Splits runs into record calls: in order, as few calls as the size bound allows. On Redis Cluster a
 * call may only touch one hash slot, so runs are first grouped by their device's slot (every key of a
 * device carries the hash tag `{device}`).
 */
export function planCalls(runs: readonly DeviceRun[], cluster: boolean, limit = CALL_VALUES): DeviceRun[][] {
  if (!cluster) return chunk(runs, limit);
  const bySlot = new Map<number, DeviceRun[]>();
  for (const run of runs) {
    const slot = calculateSlot(`{${run.device}}`);
    const group = bySlot.get(slot);
    if (group) group.push(run);
    else bySlot.set(slot, [run]);
  }
  return [...bySlot.values()].flatMap((group) => chunk(group, limit));
}

function chunk(runs: readonly DeviceRun[], limit: number): DeviceRun[][] {
  const calls: DeviceRun[][] = [];
  let current: DeviceRun[] = [];
  let size = 0;
  for (const run of runs) {
    if (current.length > 0 && size + run.values > limit) {
      calls.push(current);
      current = [];
      size = 0;
    }
    current.push(run);
    size += run.values;
  }
  if (current.length > 0) calls.push(current);
  return calls;
}
