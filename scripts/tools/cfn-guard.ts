import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../local-aws/venv.js';

/**
 * AWS CloudFormation Guard, the runner of infra/guard/*.guard: built from crates.io with the
 * machine's cargo into the project-local .tools/cfn-guard (about two and a half minutes on two
 * cores, the first time only). Nothing is installed outside the project.
 */
export const CFN_GUARD_VERSION = '3.2.1';
const root = join(projectRoot, '.tools', `cfn-guard-${CFN_GUARD_VERSION}`);
export const cfnGuardBin = join(root, 'bin', 'cfn-guard');

export class CargoMissingError extends Error {
  override readonly name = 'CargoMissingError';
}

/**
 * Builds cfn-guard unless it is there. The build runs in the background (its output goes to a log
 * file, so that it never waits on a pipe), while the caller goes on with other set-up.
 */
export function ensureCfnGuard(log: (line: string) => void = (l) => console.error(l)): Promise<string> {
  if (existsSync(cfnGuardBin)) return Promise.resolve(cfnGuardBin);
  const cargo = spawnSync('cargo', ['--version'], { encoding: 'utf8' });
  if (cargo.status !== 0) {
    throw new CargoMissingError(
      'the template tests build cfn-guard with cargo, which is not on PATH; install Rust with rustup (https://rustup.rs)',
    );
  }
  log(`tools: building cfn-guard ${CFN_GUARD_VERSION} into ${root.slice(projectRoot.length + 1)} (first run only)`);
  mkdirSync(root, { recursive: true });
  const buildLog = join(root, 'build.log');
  const output = openSync(buildLog, 'w');
  const build = spawn('cargo', ['install', 'cfn-guard', '--version', CFN_GUARD_VERSION, '--locked', '--root', root], {
    stdio: ['ignore', output, output],
  });
  return new Promise((resolve, reject) => {
    build.on('error', reject);
    build.on('close', (code) => {
      closeSync(output);
      if (code === 0 && existsSync(cfnGuardBin)) resolve(cfnGuardBin);
      else reject(new Error(`tools: cargo install cfn-guard failed (exit ${code}):\n${readFileSync(buildLog, 'utf8').slice(-4000)}`));
    });
  });
}
