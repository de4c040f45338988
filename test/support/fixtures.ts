import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../scripts/local-aws/venv.js';

/** Event samples from events/<source>/<valid|invalid>/<name>; each call returns a fresh copy. */
export function eventText(path: string): string {
  return readFileSync(join(projectRoot, 'events', path), 'utf8');
}

export function loadEvent<T = Record<string, unknown>>(path: string): T {
  return structuredClone(JSON.parse(eventText(path)) as T);
}
