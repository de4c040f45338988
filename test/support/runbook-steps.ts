import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../scripts/local-aws/venv.js';

const RUNBOOKS = join(projectRoot, 'docs/runbooks');

export interface Step {
  name: string;
  functionName: string;
  payload: string;
  expected?: unknown;
}

/** The steps of a runbook (docs/runbooks/<file>): each `<!-- runbook-step: name -->` bash block and the next json block. */
export function stepsOf(file: string): Step[] {
  const text = readFileSync(join(RUNBOOKS, file), 'utf8');
  const steps: Step[] = [];
  const marker = /<!-- runbook-step: ([\w-]+) -->\s*```bash\n([\s\S]*?)```/g;
  for (const match of text.matchAll(marker)) {
    const command = match[2]!.replace(/\\\n\s*/g, ' ');
    const functionName = /--function-name (\S+)/.exec(command)?.[1];
    const payload = /--payload '([^']*)'/.exec(command)?.[1];
    if (!command.startsWith('aws lambda invoke') || !functionName || payload === undefined) {
      throw new Error(`${file}: step ${match[1]} is not an aws lambda invoke with --function-name and --payload`);
    }
    const rest = text.slice(match.index! + match[0].length);
    const next = rest.search(/<!-- runbook-step:/);
    const expected = /```json\n([\s\S]*?)```/.exec(next < 0 ? rest : rest.slice(0, next))?.[1];
    steps.push({ name: match[1]!, functionName, payload, ...(expected && { expected: JSON.parse(expected) }) });
  }
  return steps;
}
