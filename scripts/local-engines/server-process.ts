import { type ChildProcess, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';

/**
 * A local server process the tests and benchmarks start (Chroma, SeaweedFS): spawned, waited for
 * until `ready` answers, and stopped with its data directory removed. A process that exits before it
 * is ready, or is not ready in time, is stopped and reported with the end of its stderr.
 */
export interface ServerProcessOptions {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Removed when the server stops (or fails to start). */
  dataDir: string;
  ready: () => Promise<boolean>;
  /** Where it answers, for messages. */
  endpoint: string;
  timeoutMs: number;
  /** After SIGTERM, how long to wait before SIGKILL (default: wait for the exit). */
  killAfterMs?: number;
}

export async function startServerProcess(options: ServerProcessOptions): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  const { name, command, args, env, dataDir, ready, endpoint, timeoutMs, killAfterMs } = options;
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], ...(env && { env }) });
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
      const timeout = killAfterMs === undefined ? undefined : new Promise((r) => setTimeout(() => r(false), killAfterMs));
      const graceful = await Promise.race([exited.then(() => true), ...(timeout ? [timeout] : [])]);
      if (!graceful) {
        child.kill('SIGKILL');
        await exited;
      }
    }
    await rm(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (spawnError) {
      await rm(dataDir, { recursive: true, force: true });
      throw new Error(`cannot start ${command}: ${spawnError.message}`);
    }
    // Some servers (`chroma run`) exit with status 0 even when they cannot listen: any exit is a failure here.
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before answering on ${endpoint}:\n${stderr}`);
    }
    try {
      if (await ready()) return { child, stop };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${name} did not answer on ${endpoint} within ${timeoutMs / 1000} s:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
