import { spawn } from 'node:child_process';

export const TIME_COMMAND = '/usr/bin/time';

/**
 * Runs a command under /usr/bin/time; returns its stdout and its peak RSS (MiB). `onReady` is called
 * when the command writes "engine ready" to stderr.
 */
export function timed(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  onReady?: () => void,
): Promise<{ stdout: string; stderr: string; peakRssMiB: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(TIME_COMMAND, ['-f', 'peak-rss-kib=%M', command, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (onReady && stderr.includes('engine ready')) {
        onReady();
        onReady = undefined;
      }
    });
    child.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000;
      const rss = /peak-rss-kib=(\d+)/.exec(stderr);
      if (code !== 0 || !rss) return reject(new Error(`${command} ${args.join(' ')} failed (${code}):\n${stderr.slice(-2000)}`));
      resolve({ stdout, stderr, peakRssMiB: Number(rss[1]) / 1024, seconds });
    });
  });
}
