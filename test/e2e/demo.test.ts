import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../scripts/local-aws/venv.js';

describe('npm run demo', () => {
  it('replicates the sample training and eval sets and verifies every source version', () => {
    const run = spawnSync(process.execPath, [`${projectRoot}/node_modules/tsx/dist/cli.mjs`, 'scripts/demo.ts'], {
      cwd: projectRoot,
      encoding: 'utf8',
      env: { ...process.env, DR_POLICY_FILE: 'dr-policy.yml' },
    });
    expect(run.stderr).not.toMatch(/demo failed/);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/All 10 source versions are in the replica, in order, SHA-256 verified\./);
    const rows = run.stdout.split('\n').filter((line) => /^(training-data|eval-sets)\s/.test(line));
    expect(rows).toHaveLength(10);
    expect(rows.every((row) => /\syes\s/.test(row))).toBe(true);
    expect(rows.filter((row) => row.includes('(delete marker)'))).toHaveLength(1);
  });
});
