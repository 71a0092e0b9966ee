import calculateSlot from 'cluster-key-slot';
import { describe, expect, it } from 'vitest';
import { keys } from '../../shared/store/keys.js';
import { slotTag } from '../../shared/store/slot-tags.js';

describe('totals shard tags', () => {
  it('give every Redis Cluster slot a tag of its own whose shard key lands on that slot', () => {
    const tags = new Set<string>();
    for (let slot = 0; slot < 16384; slot++) {
      const tag = slotTag(slot);
      expect(calculateSlot(keys.totalsShard(tag))).toBe(slot);
      tags.add(tag);
    }
    expect(tags.size).toBe(16384);
  });

  it('put a device and the shard its counts go to on one slot, with the first numeral that does', () => {
    for (const device of ['sensor-42', 'default', 'fleet-123']) {
      const slot = calculateSlot(keys.deviceState(device));
      const tag = slotTag(slot);
      expect(calculateSlot(keys.totalsShard(tag))).toBe(slot);
      const first = Array.from({ length: parseInt(tag, 36) }, (_, n) => n.toString(36)).find((t) => calculateSlot(t) === slot);
      expect(first).toBeUndefined();
    }
  });
});
