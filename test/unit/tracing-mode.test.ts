import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/**
 * Whether the X-Ray SDK installed its automatic mode's context (cls-hooked's namespace, whose async
 * hook runs for every promise) once functions/shared/observability.ts has loaded, in a fresh process
 * with `env`: the SDK decides as it loads, so it cannot be checked in this one.
 */
function xrayHookInstalled(env: Record<string, string>): boolean {
  const script = `
    import { createRequire } from 'node:module';
    await import(${JSON.stringify(new URL('../../functions/shared/observability.ts', import.meta.url).pathname)});
    const cls = createRequire(import.meta.url)('cls-hooked/context');
    console.log(JSON.stringify({ installed: cls.getNamespace('AWSXRay') !== undefined }));`;
  const { POWERTOOLS_TRACE_ENABLED: _enabled, AWS_XRAY_MANUAL_MODE: _manual, ...inherited } = process.env;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: { ...inherited, ...env },
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`the probe failed: ${run.stderr}`);
  return (JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { installed: boolean }).installed;
}

describe('tracing mode', () => {
  it('leaves the X-Ray SDK in its automatic mode while tracing is on, and takes it out of it when POWERTOOLS_TRACE_ENABLED is false', () => {
    expect(xrayHookInstalled({})).toBe(true);
    expect(xrayHookInstalled({ POWERTOOLS_TRACE_ENABLED: 'true' })).toBe(true);
    expect(xrayHookInstalled({ POWERTOOLS_TRACE_ENABLED: 'false' })).toBe(false);
    expect(xrayHookInstalled({ POWERTOOLS_TRACE_ENABLED: 'FALSE' })).toBe(false);
  });
});
