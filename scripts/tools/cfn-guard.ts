import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../local-aws/venv.js';
import { buildTool } from './build-tool.js';

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

/** Builds cfn-guard unless it is there, in the background (buildTool). */
export function ensureCfnGuard(log?: (line: string) => void): Promise<string> {
  if (existsSync(cfnGuardBin)) return Promise.resolve(cfnGuardBin);
  const cargo = spawnSync('cargo', ['--version'], { encoding: 'utf8' });
  if (cargo.status !== 0) {
    throw new CargoMissingError(
      'the template tests build cfn-guard with cargo, which is not on PATH; install Rust with rustup (https://rustup.rs)',
    );
  }
  return buildTool({
    label: `cfn-guard ${CFN_GUARD_VERSION}`,
    root,
    bin: cfnGuardBin,
    command: 'cargo',
    args: ['install', 'cfn-guard', '--version', CFN_GUARD_VERSION, '--locked', '--root', root],
    ...(log && { log }),
  });
}
