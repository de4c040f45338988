import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assetForKey, replicaKeyFor, replicatedAssets } from '../../functions/policy/assets.js';
import { loadPolicyFile, parsePolicy, PolicyError } from '../../functions/policy/load.js';

const example = readFileSync('dr-policy.yml', 'utf8');
const withAsset = (patch: (asset: Record<string, unknown>) => void, index = 1) => {
  const policy = structuredClone(parsePolicy(example)) as unknown as { assets: Record<string, unknown>[] };
  patch(policy.assets[index]!);
  return JSON.stringify(policy);
};
const problemsOf = (text: string) => {
  try {
    parsePolicy(text);
  } catch (error) {
    if (error instanceof PolicyError) return error.problems;
    throw error;
  }
  throw new Error('policy was accepted');
};

describe('the DR policy', () => {
  it('accepts the shipped example and applies defaults', () => {
    const policy = loadPolicyFile('dr-policy.yml');
    expect(policy.assets.map((a) => a.kind)).toEqual(['training-data', 'eval-set', 'model-artifacts', 'vector-index', 'vector-index']);
    expect(policy.replication).toEqual({
      maxReceiveCount: 5,
      batchSize: 10,
      timeoutSeconds: 300,
      multipartThresholdBytes: 512 * 1024 ** 2,
      multipartPartSizeBytes: 128 * 1024 ** 2,
      partConcurrency: 8,
      reconcileSchedule: 'rate(6 hours)',
    });
    expect(policy.monitoring).toEqual({
      schedule: 'rate(1 minute)',
      alarmEvaluationPeriods: 3,
      recoverySeconds: 300,
      lagWindowSeconds: 3600,
    });
    expect(replicatedAssets(policy).map((a) => a.name)).toEqual(['training-data', 'eval-sets', 'model-artifacts']);
    expect(replicatedAssets(policy)[0]?.replica.storageClass).toBe('STANDARD');
  });

  it('names the bad field by its path', () => {
    const text = withAsset((a) => (a.rpoTargetSeconds = -5), 2);
    expect(problemsOf(text)).toEqual(['assets[2].rpoTargetSeconds: Too small: expected number to be >0']);
    expect(() => parsePolicy(text, 'prod.yml')).toThrow(/^invalid DR policy prod\.yml: assets\[2\]\.rpoTargetSeconds/);
  });

  it("quotes at most 100 characters of an unknown field's name, and at most five of them", () => {
    const long = 'x'.repeat(1024 * 1024);
    expect(problemsOf(withAsset((a) => (a[long] = 1)))).toEqual([`assets[1]: unknown field "${'x'.repeat(100)}"… (1048576 characters)`]);
    expect(problemsOf(withAsset((a) => Object.assign(a, Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`f${i}`, 1])))))).toEqual([
      'assets[1]: unknown fields "f0", "f1", "f2", "f3", "f4" and 2 more',
    ]);
  });

  it('names unknown fields, bad kinds and missing fields', () => {
    expect(problemsOf(withAsset((a) => (a.rpoTarget = 60)))).toEqual(['assets[1]: unknown field "rpoTarget"']);
    expect(problemsOf(withAsset((a) => (a.kind = 'dataset')))[0]).toMatch(/^assets\[1\]\.kind: /);
    expect(problemsOf(withAsset((a) => delete a.tier))[0]).toMatch(/^assets\[1\]\.tier: /);
    expect(problemsOf(withAsset((a) => ((a.source as Record<string, unknown>).prefix = 'evals')))).toEqual([
      'assets[1].source.prefix: must be empty or end with "/"',
    ]);
  });

  it('refuses duplicate names, overlapping prefixes, a replica in the source bucket or outside the stack region', () => {
    expect(problemsOf(withAsset((a) => (a.name = 'training-data')))).toContain(
      'assets[1].name: duplicate asset name "training-data" (also assets[0].name)',
    );
    expect(problemsOf(withAsset((a) => ((a.source as Record<string, unknown>).prefix = 'training/evals/')))).toContain(
      'assets[1].source.prefix: overlaps assets[0] (training-data) in bucket acme-ml-prod-data: a key must belong to one asset',
    );
    expect(problemsOf(withAsset((a) => ((a.replica as Record<string, unknown>).bucket = 'acme-ml-prod-data')))).toEqual([
      'assets[1].replica.bucket: must differ from source.bucket: a replica in the source bucket is no DR copy',
    ]);
    expect(problemsOf(withAsset((a) => ((a.replica as Record<string, unknown>).region = 'eu-west-1')))).toEqual([
      'assets[1].replica.region: must equal deployment.region (us-west-2): the stack creates the replica bucket in its own region',
    ]);
  });

  it('refuses two assets writing under overlapping replica prefixes of one bucket', () => {
    const text = withAsset((a) => ((a.replica as Record<string, unknown>).prefix = 'training/evals/'));
    expect(problemsOf(text)).toEqual([
      'assets[1].replica.prefix: replica prefix "training/evals/" overlaps assets[0] (training-data, "training/") in replica bucket acme-ml-dr-replica: set distinct replica.prefix values',
    ]);
  });

  it('refuses replica bucket names that differ only in dots and hyphens (one CloudFormation id)', () => {
    const policy = structuredClone(parsePolicy(example)) as unknown as { assets: { replica: Record<string, unknown> }[] };
    policy.assets[1]!.replica.bucket = 'acme.ml.dr.replica';
    expect(problemsOf(JSON.stringify(policy))).toContain(
      'assets[1].replica.bucket: "acme.ml.dr.replica" and "acme-ml-dr-replica" differ only in dots and hyphens; use one replica bucket or names that differ otherwise',
    );
  });

  it('reports YAML errors and unreadable files as policy errors', () => {
    expect(() => parsePolicy('assets: [\n')).toThrow(/not valid YAML/);
    expect(() => parsePolicy('version: 1\nversion: 1\n')).toThrow(/not valid YAML/);
    expect(() => loadPolicyFile('no-such-policy.yml')).toThrow(/invalid DR policy no-such-policy\.yml: cannot read the file/);
  });

  it('maps keys to their asset and replica key', () => {
    const policy = loadPolicyFile('dr-policy.yml');
    const evals = assetForKey(policy, 'acme-ml-prod-data', 'evals/golden.jsonl');
    expect(evals?.name).toBe('eval-sets');
    expect(replicaKeyFor({ ...evals!, replica: { ...evals!.replica, prefix: undefined } }, 'evals/a.jsonl')).toBe('evals/a.jsonl');
    expect(assetForKey(policy, 'acme-ml-prod-data', 'scratch/x')).toBeUndefined();
    expect(assetForKey(policy, 'other-bucket', 'evals/x')).toBeUndefined();
    expect(replicaKeyFor({ ...evals!, replica: { ...evals!.replica, prefix: 'dr/evals/' } }, 'evals/a b.jsonl')).toBe('dr/evals/a b.jsonl');
  });
});
