import { ensureChromium } from '../../scripts/browser/chromium.js';
import { ensureScanVenv, ensureVenv } from '../../scripts/local-aws/venv.js';
import { ensureCfnGuard } from '../../scripts/tools/cfn-guard.js';
import { ensureCliTools } from './cli-tools.js';

/**
 * Checks first that the browser the page tests drive, and the AWS CLI and jq the runbooks' shell
 * steps run, are installed (else it names the command); then creates the project-local venvs
 * (moto, cfn-lint; checkov) and builds cfn-guard (meanwhile), once, before any test file starts.
 */
export default async function setup(): Promise<void> {
  ensureChromium();
  ensureCliTools();
  // cfn-guard builds (CPU) while the venvs install (mostly downloads).
  const guard = ensureCfnGuard();
  ensureVenv();
  ensureScanVenv();
  await guard;
}
