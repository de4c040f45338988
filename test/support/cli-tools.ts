import { spawnSync } from 'node:child_process';

/**
 * The command-line tools the runbooks' shell steps use (test/runbooks/): the AWS CLI and jq, from
 * Debian. Nothing is installed by the suite: when one is missing, the setup stops with the command
 * that installs them.
 */
export const INSTALL_CLI_TOOLS = 'apt-get update && apt-get install -y awscli jq';

export class CliToolMissingError extends Error {
  override readonly name = 'CliToolMissingError';
}

/** Where `name` is on PATH; throws, naming the install command, when it is not. */
export function commandPath(name: 'aws' | 'jq'): string {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  if (!found)
    throw new CliToolMissingError(`the runbook tests run \`${name}\`, which is not on PATH; install it with: ${INSTALL_CLI_TOOLS}`);
  return found;
}

export function ensureCliTools(): void {
  commandPath('aws');
  commandPath('jq');
}
