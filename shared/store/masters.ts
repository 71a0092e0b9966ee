import type { Cluster, Redis } from 'ioredis';

/** Where a command over the whole store goes (SCAN, INFO, FUNCTION LOAD): every master of a Cluster, or the one Redis. */
export const masters = (redis: Redis | Cluster): Redis[] => (redis.isCluster ? (redis as Cluster).nodes('master') : [redis as Redis]);
