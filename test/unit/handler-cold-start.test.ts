import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const saved = { ...process.env };
beforeEach(() => vi.resetModules());
afterEach(() => {
  process.env = { ...saved };
});

describe('replicate handler cold start', () => {
  it('fails fast on a bad policy file, naming the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dr-policy-'));
    const file = join(dir, 'bad.yml');
    writeFileSync(file, readFileSync('dr-policy.yml', 'utf8').replace('rpoTargetSeconds: 900 ', 'rpoTargetSeconds: soon '));
    Object.assign(process.env, { LEDGER_TABLE: 'ledger', DR_POLICY_FILE: file });
    await expect(import('../../functions/replicate.js')).rejects.toThrow(
      /invalid DR policy .*bad\.yml: assets\[1\]\.rpoTargetSeconds: Invalid input: expected number, received string/,
    );
  });

  it('fails fast on a missing environment variable, naming it', async () => {
    delete process.env.LEDGER_TABLE;
    await expect(import('../../functions/replicate.js')).rejects.toThrow(/invalid environment: LEDGER_TABLE: /);
  });
});
