import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository's functions/ folder. */
export const FUNCTIONS = resolve(import.meta.dirname, '..', '..', 'functions');

/** Every .ts file below `dir`, at any depth (paths joined onto `dir`). */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}
