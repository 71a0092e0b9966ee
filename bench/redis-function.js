// The second ceiling of the benchmark: a bare functions-framework function that makes one Redis round
// trip per request (a HINCRBY through ioredis, auto-pipelined like the service's client) and answers
// like ingest does: what the framework allows with a store behind it.
import { http } from '@google-cloud/functions-framework';
import { Redis } from 'ioredis';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { enableAutoPipelining: true });

http('hello_redis', async (req, res) => {
  if (req.path === '/health') {
    res.status(200).json({ ok: true });
    return;
  }
  const seen = await redis.hincrby('bench:ceiling', req.body?.device_id ?? 'none', 1);
  res.status(202).json({ ok: true, seen });
});
