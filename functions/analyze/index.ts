import { defineFunction } from '../../shared/function.js';
import { analyzeRoutes } from './routes.js';

defineFunction('analyze', analyzeRoutes, { seriesGauges: false });
