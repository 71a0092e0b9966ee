import type { Store } from '../store/store.js';
import type { Handler, Routes } from './routes.js';

const UNAVAILABLE = { status: 'unavailable', error: 'unavailable', message: 'Redis does not answer PING' };
const FULL = {
  status: 'full',
  error: 'store_full',
  message: 'Redis memory is near maxmemory (READY_MEMORY_HIGH): not ready until it is back below READY_MEMORY_LOW',
};

/**
 * The health paths every function answers, always open. Liveness: 200 when Redis answers PING, 503
 * otherwise. Readiness (and /health, /healthz) also say whether Redis is near its maxmemory
 * (noeviction; with hysteresis, see Store.full): a function that writes (`writes`) is then not ready
 * (503 store_full) before most writes are refused; one that only reads stays ready and says so.
 */
export function healthRoutes(store: Pick<Store, 'ping' | 'full'>, options: { writes: boolean }): Routes {
  const liveness: Handler = async (_req, res) => {
    const ok = await store.ping();
    res.status(ok ? 200 : 503).json(ok ? { status: 'ok' } : UNAVAILABLE);
  };
  const readiness: Handler = async (_req, res) => {
    if (!(await store.ping())) return void res.status(503).json(UNAVAILABLE);
    if (!(await store.full())) return void res.status(200).json({ status: 'ok' });
    if (options.writes) return void res.status(503).json(FULL);
    res.status(200).json({ status: 'ok', store: 'full' });
  };
  return {
    '/health': { GET: readiness },
    '/healthz': { GET: readiness },
    '/health/liveness': { GET: liveness },
    '/health/readiness': { GET: readiness },
  };
}
