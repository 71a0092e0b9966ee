import calculateSlot from 'cluster-key-slot';

const SLOTS = 16384;
let table: string[] | undefined;

/**
 * A short hash tag whose key lands on Redis Cluster slot `slot`: the first of the base-36 numerals 0, 1,
 * 2 … that does, so every process finds the same tag. The table is made once, on first use (about
 * 170,000 CRC16s: the coupon collector's n·ln n for 16,384 slots).
 */
export function slotTag(slot: number): string {
  table ??= buildTable();
  return table[slot]!;
}

function buildTable(): string[] {
  const tags = new Array<string>(SLOTS);
  let missing = SLOTS;
  for (let n = 0; missing > 0; n++) {
    const tag = n.toString(36);
    const slot = calculateSlot(tag);
    if (tags[slot] === undefined) {
      tags[slot] = tag;
      missing--;
    }
  }
  return tags;
}
