// cluster-key-slot (ioredis's own slot function) ships no types.
declare module 'cluster-key-slot' {
  /** The Redis Cluster hash slot of a key (0..16383), honouring a `{hash tag}`. */
  export default function calculateSlot(key: string): number;
}
