/**
 * Imported first by scripts that run handlers in-process and print for people (the demo): the
 * handlers' Powertools logger and metrics read their settings when their modules load, so these
 * defaults must be in the environment before any other import. Set the variables to override.
 */
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
