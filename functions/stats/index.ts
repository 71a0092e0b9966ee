import { http } from '@google-cloud/functions-framework';
import { defaultContext } from '../../shared/context.js';
import { serve } from '../../shared/http/pipeline.js';
import { observe, whenServed } from '../../shared/telemetry/observe.js';
import { statsRoutes } from './routes.js';

// Stats exports the series gauges (read from Redis), so that one function, not every pod, reads them.
const context = defaultContext();
http('stats', serve('stats', statsRoutes(context)));
whenServed('stats', () => observe('stats', context, { seriesGauges: true }));
