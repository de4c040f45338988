import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export const TIME_COMMAND = '/usr/bin/time';
export const AWS_CLI = '/usr/bin/aws';
export const RCLONE = '/usr/bin/rclone';

/** The Debian package of each comparison tool. */
const PACKAGES: Record<string, string> = { [TIME_COMMAND]: 'time', [AWS_CLI]: 'awscli', [RCLONE]: 'rclone' };

/** A benchmark needs its baselines: it names what is missing, with the install command, and stops. */
export function requireTools(...tools: string[]): void {
  const missing = tools.filter((tool) => !existsSync(tool));
  if (missing.length) {
    throw new Error(`${missing.join(', ')} missing: apt-get update && apt-get install -y ${missing.map((t) => PACKAGES[t]).join(' ')}`);
  }
}

/**
 * Runs a command under /usr/bin/time; returns its stdout, its peak RSS (MiB) and the CPU seconds
 * (user + system) it used. `onReady` is called
 * when the command writes "engine ready" to stderr.
 */
export function timed(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  onReady?: () => void,
): Promise<{ stdout: string; stderr: string; peakRssMiB: number; seconds: number; cpuSeconds: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(TIME_COMMAND, ['-f', 'peak-rss-kib=%M cpu-seconds=%U+%S', command, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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
      const usage = /peak-rss-kib=(\d+) cpu-seconds=([\d.]+)\+([\d.]+)/.exec(stderr);
      if (code !== 0 || !usage) return reject(new Error(`${command} ${args.join(' ')} failed (${code}):\n${stderr.slice(-2000)}`));
      resolve({ stdout, stderr, peakRssMiB: Number(usage[1]) / 1024, seconds, cpuSeconds: Number(usage[2]) + Number(usage[3]) });
    });
  });
}

/** The environment the AWS CLI runs with against the local AWS: its credentials, the endpoint given by --endpoint-url. */
export function awsCliEnv(env: NodeJS.ProcessEnv, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const awsEnv: NodeJS.ProcessEnv = { ...env, ...extra, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' };
  delete awsEnv.AWS_ENDPOINT_URL;
  return awsEnv;
}

/** `aws s3 cp --recursive` from one place to another (a local folder or s3://), timed. */
export function awsCopyRecursive(endpoint: string, from: string, to: string, env: NodeJS.ProcessEnv) {
  return timed(AWS_CLI, ['s3', 'cp', '--recursive', '--only-show-errors', '--endpoint-url', endpoint, from, to], awsCliEnv(env));
}
