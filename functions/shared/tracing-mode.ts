/**
 * Imported by observability.ts before the tracer, so that it runs before the X-Ray SDK loads and
 * reads its mode (applyTracingMode in config.ts).
 */
import { applyTracingMode } from './config.js';

applyTracingMode();
