import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../scripts/local-aws/venv.js';

const RUNBOOKS = join(projectRoot, 'docs/runbooks');

/** A runbook step: an `aws lambda invoke` of one of the stack's functions, or a shell script (the AWS CLI, jq). */
export type Step =
  | { kind: 'invoke'; name: string; functionName: string; payload: string; expected?: unknown }
  | { kind: 'shell'; name: string; script: string; expected?: unknown };

/** The steps of a runbook (docs/runbooks/<file>): each `<!-- runbook-step: name -->` bash block and the next json block. */
export function stepsOf(file: string): Step[] {
  const text = readFileSync(join(RUNBOOKS, file), 'utf8');
  const steps: Step[] = [];
  const marker = /<!-- runbook-step: ([\w-]+) -->\s*```bash\n([\s\S]*?)```/g;
  for (const match of text.matchAll(marker)) {
    const name = match[1]!;
    const rest = text.slice(match.index! + match[0].length);
    const next = rest.search(/<!-- runbook-step:/);
    const expectedText = /```json\n([\s\S]*?)```/.exec(next < 0 ? rest : rest.slice(0, next))?.[1];
    const expected = expectedText === undefined ? {} : { expected: JSON.parse(expectedText) as unknown };
    if (!match[2]!.startsWith('aws lambda invoke')) {
      steps.push({ kind: 'shell', name, script: match[2]!, ...expected });
      continue;
    }
    const command = match[2]!.replace(/\\\n\s*/g, ' ');
    const functionName = /--function-name (\S+)/.exec(command)?.[1];
    const payload = /--payload '([^']*)'/.exec(command)?.[1];
    if (!functionName || payload === undefined) {
      throw new Error(`${file}: step ${name} is an aws lambda invoke without --function-name or --payload`);
    }
    steps.push({ kind: 'invoke', name, functionName, payload, ...expected });
  }
  return steps;
}
