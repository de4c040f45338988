import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../scripts/local-aws/venv.js';

describe('npm run demo', () => {
  it('runs the whole loop: replication verified, a page sent once, a snapshot, a restore test, a drill that passes', () => {
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

    // The live RPO misses for the vector indexes (no snapshot yet): paged once each, then no more.
    expect(run.stdout).toMatch(/PAGE DR Target Missed: product-search-index rpo no-verified-snapshot/);
    expect(run.stdout).toMatch(/measured again: 0 new pages/);
    expect(run.stdout).toMatch(/product-search-index \(pgvector, 768 dimensions\): snapshot \S+ verified, 300 vectors/);
    expect(run.stdout).toMatch(/support-kb-index \(lancedb, 768 dimensions\): snapshot \S+ verified, 100 vectors/);
    expect(run.stdout).toMatch(/4\. A restore test of eval-sets[^\n]*\n\s+passed; measured RTO \d+\.\d+ s/);
    const drilled = run.stdout
      .split('\n')
      .filter((line) => /^\s+(training-data|eval-sets|model-artifacts|product-search-index)\s+verified\s+RPO at start/.test(line));
    expect(drilled).toHaveLength(4);
    expect(run.stdout).toMatch(/drill \S+: PASSED; whole recovery \d+\.\d+ s \(target 14400 s\); left behind: 0/);

    // The report, copied to a local file whose path it prints; its headline answers from the drill.
    expect(run.stdout).toMatch(/Yes: we could recover from a region outage now/);
    const page = /open (\S+index\.html)/.exec(run.stdout)?.[1];
    expect(page).toBeDefined();
    const html = readFileSync(page!, 'utf8');
    expect(html).toContain('quarterly-region-outage');
    expect(JSON.parse(readFileSync(join(dirname(page!), 'report.json'), 'utf8'))).toMatchObject({ headline: { verdict: 'yes' } });
    // The public status page beside it: public names only.
    const status = readFileSync(join(dirname(page!), 'status/index.html'), 'utf8');
    expect(status).toContain('Model training data');
    expect(status).not.toContain('training-data');
    rmSync(dirname(page!), { recursive: true, force: true });
  });
});
