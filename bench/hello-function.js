// The ceiling of the benchmark: a bare functions-framework function that answers like ingest does
// (202 and a small JSON body) but does no work, served by the same framework in the same process model.
import { http } from '@google-cloud/functions-framework';

http('hello', (req, res) => {
  res.status(req.path === '/health' ? 200 : 202).json({ ok: true });
});
