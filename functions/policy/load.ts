import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { formatPath } from '../shared/field-path.js';
import { quoteList } from '../shared/errors.js';
import { policySchema, type Policy } from './schema.js';

/** The policy file is missing, is not YAML, or breaks the schema. The message names the field. */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid DR policy ${file}: ${problems.join('; ')}`);
  }
}

function describe(issue: z.core.$ZodIssue): string {
  const where = formatPath(issue.path) || '(top level)';
  if (issue.code === 'unrecognized_keys') {
    return `${where}: unknown field${issue.keys.length > 1 ? 's' : ''} ${quoteList(issue.keys)}`;
  }
  return `${where}: ${issue.message}`;
}

export function parsePolicy(text: string, file = 'dr-policy.yml'): Policy {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PolicyError(
      file,
      doc.errors.map((e) => `not valid YAML: ${e.message.split('\n')[0]}`),
    );
  }
  const result = policySchema.safeParse(doc.toJS());
  if (!result.success) throw new PolicyError(file, result.error.issues.map(describe));
  return result.data;
}

export function loadPolicyFile(file: string): Policy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error: unknown) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new PolicyError(file, [`cannot read the file (${reason})`]);
  }
  return parsePolicy(text, file);
}
