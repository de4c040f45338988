import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { projectRoot } from '../../scripts/local-aws/venv.js';

const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats.default(ajv);
const load = (file: string) => JSON.parse(readFileSync(join(projectRoot, 'docs/schemas', file), 'utf8')) as object;
const validate = ajv.compile(load('dr-target-event.schema.json'));
const validateReport = ajv.compile(load('dr-report.schema.json'));
const errorsOf = (v: typeof validate) => (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);

/** Validates an event against docs/schemas/dr-target-event.schema.json; returns the errors (none = valid). */
export function targetEventErrors(event: unknown): string[] {
  return validate(event) ? [] : errorsOf(validate);
}

/** Validates a DR report (report.json) against docs/schemas/dr-report.schema.json; returns the errors (none = valid). */
export function reportErrors(report: unknown): string[] {
  return validateReport(report) ? [] : errorsOf(validateReport);
}
