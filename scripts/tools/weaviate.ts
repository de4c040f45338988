import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../local-aws/venv.js';
import { buildTool } from './build-tool.js';

/**
 * Weaviate's server, for the Weaviate adapter's tests against a real engine: built from the Go
 * module proxy with the machine's Go (`go install …/cmd/weaviate-server@v1.35.2`) into the
 * project-local .tools/weaviate-<version>/bin, Go's module and build caches kept there while it
 * builds and removed after (about two and a half minutes on two cores, the first time only; a 168 MB
 * binary).
 */
export const WEAVIATE_VERSION = '1.35.2';
const root = join(projectRoot, '.tools', `weaviate-${WEAVIATE_VERSION}`);
export const weaviateBin = join(root, 'bin', 'weaviate-server');

export class GoMissingError extends Error {
  override readonly name = 'GoMissingError';
}

/** Builds weaviate-server unless it is there, in the background (buildTool). */
export function ensureWeaviate(log?: (line: string) => void): Promise<string> {
  if (existsSync(weaviateBin)) return Promise.resolve(weaviateBin);
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0)
    throw new GoMissingError(
      'the Weaviate tests build weaviate-server with Go, which is not on PATH; install Go 1.26 (https://go.dev/dl/)',
    );
  return buildTool({
    label: `weaviate-server ${WEAVIATE_VERSION}`,
    root,
    bin: weaviateBin,
    command: 'go',
    args: ['install', `github.com/weaviate/weaviate/cmd/weaviate-server@v${WEAVIATE_VERSION}`],
    env: { ...process.env, GOBIN: join(root, 'bin'), GOMODCACHE: join(root, 'mod'), GOCACHE: join(root, 'cache'), GOFLAGS: '-modcacherw' },
    // Only the binary is kept: Go's module and build caches of it take about 3 GB.
    after: () => ['mod', 'cache'].forEach((cache) => rmSync(join(root, cache), { recursive: true, force: true })),
    ...(log && { log }),
  });
}
