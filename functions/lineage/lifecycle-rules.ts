import { GetBucketLifecycleConfigurationCommand, type LifecycleRule as S3LifecycleRule, type S3Client } from '@aws-sdk/client-s3';
import { lineagePrefix, replicaKeyFor } from '../policy/assets.js';
import type { ObjectAsset, Policy } from '../policy/schema.js';
import { datasetFolder } from './dataset-manifest.js';

/**
 * Lifecycle rules that would expire what registered models need (docs/lineage.md#lifecycle-rules).
 * DVC warns that a lifecycle rule can delete versions it then cannot recover; here a rule is
 * found before it runs: every enabled rule of a referenced dataset version's source bucket or
 * replica bucket that expires current versions (they become noncurrent, then go with any
 * noncurrent-version rule) or deletes noncurrent versions, and whose filter can match a key the
 * dataset version names (its prefix; a tag or size filter is taken to match: the check cannot know
 * which objects carry the tag).
 */
export interface LifecycleRule {
  id: string;
  enabled: boolean;
  /** The rule's key prefix ("" for the whole bucket). */
  prefix: string;
  /** Whether the filter also names tags or sizes (so it may match fewer keys). */
  narrower: boolean;
  expiresCurrent: boolean;
  deletesNoncurrent: boolean;
}

export interface LifecycleSource {
  /** The bucket's rules ([] when it has no lifecycle configuration). */
  rules(bucket: string, region: string): Promise<LifecycleRule[]>;
}

/** A dataset version a registered model links, as the check sees it. */
export interface ReferencedVersion {
  asset: ObjectAsset;
  id: string;
  /** The source prefix it covers. */
  prefix: string;
  /** Its legal hold is placed (legal-holds.ts): S3 keeps the replica versions whatever a rule says. */
  held: boolean;
}

export interface LifecycleRisk {
  asset: string;
  bucket: string;
  where: 'source' | 'replica';
  rule: string;
  rulePrefix: string;
  /** What the rule does to the versions. */
  does: ('expires current versions' | 'deletes noncurrent versions')[];
  /** The dataset versions whose keys it can match (at most 10). */
  datasetVersions: string[];
  /** In the replica, all of them are held: the rule cannot delete their versions (it still removes everything else it matches). */
  held: boolean;
  /** The rule also filters by tag or size: it may match only some of the keys. */
  narrower: boolean;
}

const overlaps = (a: string, b: string) => a.startsWith(b) || b.startsWith(a);

/** Finds the risks; a bucket whose configuration cannot be read is reported in `unread`, not skipped silently. */
export async function findLifecycleRisks(
  policy: Policy,
  referenced: ReferencedVersion[],
  source: LifecycleSource,
): Promise<{ risks: LifecycleRisk[]; unread: { bucket: string; error: string }[] }> {
  const rules = new Map<string, Promise<LifecycleRule[]>>();
  const rulesOf = (bucket: string, region: string) => {
    if (!rules.has(bucket)) rules.set(bucket, source.rules(bucket, region));
    return rules.get(bucket)!;
  };
  const risks = new Map<string, LifecycleRisk>();
  const unread = new Map<string, string>();
  for (const ref of referenced) {
    const { asset } = ref;
    const places = [
      // The source's own versions: a model's training data disappearing in the primary region (the replica still has it, held).
      ...(asset.source.endpoint || asset.source.credentialsSecretArn
        ? []
        : [{ where: 'source' as const, bucket: asset.source.bucket, region: asset.source.region, prefixes: [ref.prefix] }]),
      {
        where: 'replica' as const,
        bucket: asset.replica.bucket,
        region: asset.replica.region,
        prefixes: [replicaKeyFor(asset, ref.prefix), datasetFolder(lineagePrefix(policy), asset.name, ref.id)],
      },
    ];
    for (const place of places) {
      let found: LifecycleRule[];
      try {
        found = await rulesOf(place.bucket, place.region);
      } catch (error) {
        unread.set(place.bucket, (error as Error).message);
        continue;
      }
      for (const rule of found) {
        if (!rule.enabled || !(rule.expiresCurrent || rule.deletesNoncurrent)) continue;
        if (!place.prefixes.some((p) => overlaps(rule.prefix, p))) continue;
        const key = `${place.bucket}\u0000${rule.id}\u0000${asset.name}`;
        const risk = risks.get(key) ?? {
          asset: asset.name,
          bucket: place.bucket,
          where: place.where,
          rule: rule.id,
          rulePrefix: rule.prefix,
          does: [
            ...(rule.expiresCurrent ? ['expires current versions' as const] : []),
            ...(rule.deletesNoncurrent ? ['deletes noncurrent versions' as const] : []),
          ],
          datasetVersions: [],
          held: true,
          narrower: rule.narrower,
        };
        if (risk.datasetVersions.length < 10) risk.datasetVersions.push(ref.id);
        risk.held = risk.held && place.where === 'replica' && ref.held;
        risks.set(key, risk);
      }
    }
  }
  return { risks: [...risks.values()], unread: [...unread].map(([bucket, error]) => ({ bucket, error })) };
}

/** A rule as S3 returns it, in the terms above. */
export function lifecycleRuleOf(rule: S3LifecycleRule, index: number): LifecycleRule {
  const filter = rule.Filter;
  const prefix = filter?.Prefix ?? filter?.And?.Prefix ?? rule.Prefix ?? '';
  const narrower = Boolean(
    filter?.Tag ||
    filter?.ObjectSizeGreaterThan ||
    filter?.ObjectSizeLessThan ||
    filter?.And?.Tags?.length ||
    filter?.And?.ObjectSizeGreaterThan ||
    filter?.And?.ObjectSizeLessThan,
  );
  return {
    id: rule.ID ?? `rule ${index + 1}`,
    enabled: rule.Status === 'Enabled',
    prefix,
    narrower,
    expiresCurrent: Boolean(rule.Expiration?.Days || rule.Expiration?.Date),
    deletesNoncurrent: Boolean(
      rule.NoncurrentVersionExpiration?.NoncurrentDays !== undefined ||
      rule.NoncurrentVersionExpiration?.NewerNoncurrentVersions !== undefined,
    ),
  };
}

/** Lifecycle configurations read with GetBucketLifecycleConfiguration (a bucket with none answers NoSuchLifecycleConfiguration). */
export class S3LifecycleSource implements LifecycleSource {
  constructor(private readonly s3For: (region: string) => S3Client) {}

  async rules(bucket: string, region: string): Promise<LifecycleRule[]> {
    try {
      const { Rules = [] } = await this.s3For(region).send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
      return Rules.map(lifecycleRuleOf);
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchLifecycleConfiguration') return [];
      throw error;
    }
  }
}
