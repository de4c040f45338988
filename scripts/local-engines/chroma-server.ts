import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../local-aws/server.js';
import { ensureVenv, venvBin } from '../local-aws/venv.js';

/** A Chroma server (`chroma run` from PyPI chromadb in the project venv) on a free 127.0.0.1 port. */
export interface ChromaServer {
  url: string;
  /** Where the server persists its data (the benchmark copies it as Chroma's native backup). */
  dataDir: string;
  stop(): Promise<void>;
}

/** Starts Chroma with its data in a fresh temporary directory; stop() ends it and removes the directory. */
export async function startChroma(): Promise<ChromaServer> {
  ensureVenv();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'chroma-'));
  const child = spawn(venvBin('chroma'), ['run', '--host', '127.0.0.1', '--port', String(port), '--path', dataDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let spawnError: Error | undefined;
  child.once('error', (error) => (spawnError = error));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (spawnError) {
      await rm(dataDir, { recursive: true, force: true });
      throw new Error(`cannot start ${venvBin('chroma')}: ${spawnError.message}`);
    }
    // `chroma run` exits with status 0 even when it cannot listen, so any exit is a failure here.
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`chroma exited (${child.exitCode ?? child.signalCode}) before answering on ${url}:\n${stderr}`);
    }
    try {
      if ((await fetch(`${url}/api/v2/heartbeat`)).ok) return { url, dataDir, stop };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`chroma did not answer on ${url} within 30 s:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
