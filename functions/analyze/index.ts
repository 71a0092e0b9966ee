import { http } from '@google-cloud/functions-framework';
import { defaultContext } from '../../shared/context.js';
import { serve } from '../../shared/http.js';
import { analyzeRoutes } from './routes.js';

http('analyze', serve('analyze', analyzeRoutes(defaultContext())));
