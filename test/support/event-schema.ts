import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { projectRoot } from '../../scripts/local-aws/venv.js';

const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats.default(ajv);
const schema = JSON.parse(readFileSync(join(projectRoot, 'docs/schemas/dr-target-event.schema.json'), 'utf8')) as object;
const validate = ajv.compile(schema);

/** Validates an event against docs/schemas/dr-target-event.schema.json; returns the errors (none = valid). */
export function targetEventErrors(event: unknown): string[] {
  return validate(event) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}
