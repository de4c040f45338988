import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FUNCTIONS, sourceFiles } from '../support/source-files.js';

/**
 * Folder dependencies under functions/ run one way. Handlers (functions/*.ts) may use any domain;
 * a domain module uses only the folders listed for it here, and never a handler. A new folder must
 * be given its place in this list.
 */
const allowed: Record<string, readonly string[]> = {
  shared: [],
  policy: ['shared'],
  ledger: ['shared', 'policy'],
  storage: ['shared', 'policy'],
  alerts: ['shared', 'policy', 'ledger'],
  vectors: ['shared', 'policy', 'storage'],
  replication: ['shared', 'policy', 'ledger', 'storage'],
  reconcile: ['shared', 'policy', 'ledger', 'storage'],
  rpo: ['shared', 'policy', 'ledger', 'storage', 'alerts', 'vectors'],
  restore: ['shared', 'policy', 'ledger', 'storage', 'alerts', 'replication', 'vectors'],
  drills: ['shared', 'policy', 'ledger', 'storage', 'alerts', 'replication', 'vectors', 'rpo', 'restore', 'serving'],
  report: ['shared', 'policy', 'ledger', 'storage', 'alerts', 'vectors', 'rpo', 'restore', 'drills', 'lineage', 'serving'],
  lineage: ['shared', 'policy', 'ledger', 'storage', 'alerts', 'replication', 'restore'],
  serving: ['shared', 'policy', 'alerts', 'restore', 'ledger', 'storage'],
};

/** Relative imports (static, re-exports and dynamic) of one file, resolved to paths. */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)(['"`])(\.{1,2}\/[^'"`]+)\1/gm)].map((m) => m[2]!);
  return specifiers.map((s) => resolve(dirname(file), s));
}

/** The folder of `root` a path is in: "restore", "(handler)" for root/*.ts, "(outside)" otherwise. */
function folderOf(root: string, path: string): string {
  const rel = relative(root, path);
  if (rel.startsWith('..')) return '(outside)';
  const [first, ...rest] = rel.split('/');
  return rest.length ? first! : '(handler)';
}

/** Every import of a domain module under `root` that the list above does not allow. */
function layeringViolations(root: string): string[] {
  const violations: string[] = [];
  for (const file of sourceFiles(root)) {
    const from = folderOf(root, file);
    if (from === '(handler)') continue;
    for (const target of relativeImports(file)) {
      const to = folderOf(root, target);
      if (to === from) continue;
      if (!(allowed[from] ?? []).includes(to))
        violations.push(`${from} -> ${to}: ${relative(root, file)} imports ${relative(root, target)}`);
    }
  }
  return violations;
}

describe('folder dependencies under functions/', () => {
  it('give every domain folder its place', () => {
    const folders = new Set(
      sourceFiles(FUNCTIONS)
        .map((f) => folderOf(FUNCTIONS, f))
        .filter((f) => f !== '(handler)'),
    );
    expect([...folders].sort()).toEqual(Object.keys(allowed).sort());
  });

  it('form no cycle', () => {
    const placed: string[] = [];
    const pending = new Set(Object.keys(allowed));
    while (pending.size) {
      const next = [...pending].find((f) => allowed[f]!.every((d) => placed.includes(d)));
      expect(next, `a cycle among ${[...pending].join(', ')}`).toBeDefined();
      placed.push(next!);
      pending.delete(next!);
    }
  });

  it('run one way: no domain imports a handler, a script, or a folder not listed for it', () => {
    expect(layeringViolations(FUNCTIONS)).toEqual([]);
  });

  it('are checked for real: imports the list does not allow are reported, nested folders included', () => {
    const root = mkdtempSync(join(tmpdir(), 'layering-'));
    try {
      const write = (path: string, text: string) => {
        mkdirSync(dirname(join(root, path)), { recursive: true });
        writeFileSync(join(root, path), text);
      };
      write('alerts/evaluate.ts', "import type { AssetMeasurement } from '../rpo/measure.js';\nimport { x } from '../shared/x.js';\n");
      write(
        'vectors/adapters/qdrant.ts',
        "import {\n  a,\n} from '../../replicate.js';\nconst later = () => import('../../restore/plan.js');\n",
      );
      write('policy/load.ts', 'export { y } from \'../../scripts/demo.js\';\nimport { z } from "../rpo/measure.js";\n');
      write('replicate.ts', "import { z } from './restore/plan.js';\n");
      expect(layeringViolations(root).sort()).toEqual([
        'alerts -> rpo: alerts/evaluate.ts imports rpo/measure.js',
        'policy -> (outside): policy/load.ts imports ../scripts/demo.js',
        'policy -> rpo: policy/load.ts imports rpo/measure.js',
        'vectors -> (handler): vectors/adapters/qdrant.ts imports replicate.js',
        'vectors -> restore: vectors/adapters/qdrant.ts imports restore/plan.js',
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
