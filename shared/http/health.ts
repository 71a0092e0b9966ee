import type { Store } from '../store/store.js';
import type { Handler, Routes } from './routes.js';

/** The health paths every function answers, always open: 200 when Redis answers PING, 503 otherwise. */
export function healthRoutes(store: Pick<Store, 'ping'>): Routes {
  const health: Handler = async (_req, res) => {
    const ok = await store.ping();
    res.status(ok ? 200 : 503).json(ok ? { status: 'ok' } : { status: 'unavailable', error: 'unavailable', message: 'Redis does not answer PING' });
  };
  return {
    '/health': { GET: health },
    '/healthz': { GET: health },
    '/health/liveness': { GET: health },
    '/health/readiness': { GET: health },
  };
}
