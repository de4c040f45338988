import { ensureChromium } from '../../scripts/browser/chromium.js';
import { ensureScanVenv, ensureVenv } from '../../scripts/local-aws/venv.js';
import { ensureCliTools } from './cli-tools.js';

/**
 * Creates the project-local venvs (moto, cfn-lint; checkov) once, before any test file starts a local AWS,
 * and checks that the browser the page tests drive, and the AWS CLI and jq the runbooks' shell
 * steps run, are installed (else it names the command).
 */
export default function setup(): void {
  ensureVenv();
  ensureScanVenv();
  ensureChromium();
  ensureCliTools();
}
