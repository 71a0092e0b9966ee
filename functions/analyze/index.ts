import { http } from '@google-cloud/functions-framework';
import { defaultContext } from '../../shared/context.js';
import { serve } from '../../shared/http.js';
import { observe, whenServed } from '../../shared/observe.js';
import { analyzeRoutes } from './routes.js';

const context = defaultContext();
http('analyze', serve('analyze', analyzeRoutes(context)));
whenServed('analyze', () => observe('analyze', context, { seriesGauges: false }));
