import { ensureVenv } from '../../scripts/local-aws/venv.js';

/** Creates the project-local venv (moto, cfn-lint) once, before any test file starts a local AWS. */
export default function setup(): void {
  ensureVenv();
}
