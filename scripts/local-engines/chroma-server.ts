import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, processCpuSeconds } from '../local-aws/server.js';
import { ensureVenv, venvBin } from '../local-aws/venv.js';
import { startServerProcess } from './server-process.js';

/** A Chroma server (`chroma run` from PyPI chromadb in the project venv) on a free 127.0.0.1 port. */
export interface ChromaServer {
  url: string;
  /** Where the server persists its data (the benchmark copies it as Chroma's native backup). */
  dataDir: string;
  /** CPU seconds (user + system) the server has used so far, for benchmarks. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** Starts Chroma with its data in a fresh temporary directory; stop() ends it and removes the directory. */
export async function startChroma(): Promise<ChromaServer> {
  ensureVenv();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'chroma-'));
  const { child, stop } = await startServerProcess({
    name: 'chroma',
    command: venvBin('chroma'),
    args: ['run', '--host', '127.0.0.1', '--port', String(port), '--path', dataDir],
    dataDir,
    endpoint: url,
    ready: async () => (await fetch(`${url}/api/v2/heartbeat`)).ok,
    timeoutMs: 30_000,
  });
  return { url, dataDir, stop, cpuSeconds: () => processCpuSeconds(child.pid!) };
}
