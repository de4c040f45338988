import { ensureChromium } from '../../scripts/browser/chromium.js';
import { ensureScanVenv, ensureVenv } from '../../scripts/local-aws/venv.js';

/**
 * Creates the project-local venvs (moto, cfn-lint; checkov) once, before any test file starts a local AWS,
 * and checks that the browser the page tests drive is installed (else it names the command).
 */
export default function setup(): void {
  ensureVenv();
  ensureScanVenv();
  ensureChromium();
}
