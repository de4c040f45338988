import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../local-aws/venv.js';

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

/** Builds weaviate-server unless it is there; in the background (output to a log file), while the caller goes on. */
export function ensureWeaviate(log: (line: string) => void = (l) => console.error(l)): Promise<string> {
  if (existsSync(weaviateBin)) return Promise.resolve(weaviateBin);
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0)
    throw new GoMissingError(
      'the Weaviate tests build weaviate-server with Go, which is not on PATH; install Go 1.26 (https://go.dev/dl/)',
    );
  log(`tools: building weaviate-server ${WEAVIATE_VERSION} into ${root.slice(projectRoot.length + 1)} (first run only)`);
  mkdirSync(root, { recursive: true });
  const buildLog = join(root, 'build.log');
  const output = openSync(buildLog, 'w');
  const build = spawn('go', ['install', `github.com/weaviate/weaviate/cmd/weaviate-server@v${WEAVIATE_VERSION}`], {
    stdio: ['ignore', output, output],
    env: { ...process.env, GOBIN: join(root, 'bin'), GOMODCACHE: join(root, 'mod'), GOCACHE: join(root, 'cache'), GOFLAGS: '-modcacherw' },
  });
  return new Promise((resolve, reject) => {
    build.on('error', reject);
    build.on('close', (code) => {
      closeSync(output);
      if (code === 0 && existsSync(weaviateBin)) {
        // Only the binary is kept: Go's module and build caches of it take about 3 GB.
        for (const cache of ['mod', 'cache']) rmSync(join(root, cache), { recursive: true, force: true });
        resolve(weaviateBin);
      } else reject(new Error(`tools: go install weaviate-server failed (exit ${code}):\n${readFileSync(buildLog, 'utf8').slice(-4000)}`));
    });
  });
}
