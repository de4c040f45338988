import { ensureChromium } from '../../scripts/browser/chromium.js';
import { ensureScanVenv, ensureVenv } from '../../scripts/local-aws/venv.js';
import { ensureCfnGuard } from '../../scripts/tools/cfn-guard.js';
import { ensureWeaviate } from '../../scripts/tools/weaviate.js';
import { ensureCliTools } from './cli-tools.js';

/**
 * Checks first that the browser the page tests drive, and the AWS CLI and jq the runbooks' shell
 * steps run, are installed (else it names the command); then creates the project-local venvs
 * (moto, cfn-lint; checkov) and builds cfn-guard and Weaviate's server (meanwhile), once, before any
 * test file starts.
 */
export default async function setup(): Promise<void> {
  ensureChromium();
  ensureCliTools();
  // cfn-guard and weaviate-server build (CPU) while the venvs install (mostly downloads).
  const builds = [ensureCfnGuard(), ensureWeaviate()];
  ensureVenv();
  ensureScanVenv();
  await Promise.all(builds);
}
