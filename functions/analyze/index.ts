import { http } from '@google-cloud/functions-framework';
import { defaultContext } from '../../shared/context.js';
import { serve } from '../../shared/http/pipeline.js';
import { observe, whenServed } from '../../shared/telemetry/observe.js';
import { analyzeRoutes } from './routes.js';

const context = defaultContext();
http('analyze', serve('analyze', analyzeRoutes(context)));
whenServed('analyze', () => observe('analyze', context, { seriesGauges: false }));
