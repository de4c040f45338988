/**
 * The floor under bench:replication's engine rows: the least work a SHA-256-verified copy needs,
 * and nothing else. Lists the prefix, then per object one GetObject (its bytes hashed) and one
 * CopyObject that asks S3 for the copy's SHA-256, compared with the source's (a store that returns
 * no checksum for a copy, as SeaweedFS, costs one GetObject of the copy more, its bytes hashed). No ledger, no lease,
 * no version history, no queue: what any tool that verifies by SHA-256 must at least do when the
 * source stores no checksum. In a process of its own (for its CPU and peak RSS); prints one JSON line.
 * Usage: verified-copy.ts --bucket B --prefix P --target T --region R --concurrency N
 */
import { CopyObjectCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { sha256Of } from '../../functions/storage/hashing.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || process.argv[i + 1] === undefined) throw new Error(`--${name} is required`);
  return process.argv[i + 1]!;
};
const [bucket, prefix, target, region] = [arg('bucket'), arg('prefix'), arg('target'), arg('region')];
const concurrency = Number(arg('concurrency'));

async function main() {
  const s3 = new S3Client({ region, forcePathStyle: true });
  const started = performance.now();
  const cpuAtStart = process.cpuUsage();
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.NextContinuationToken;
  } while (token);
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const key = keys[next++]!;
      const source = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const sha256 = await sha256Of(source.Body as Readable);
      const copy = await s3.send(
        new CopyObjectCommand({
          Bucket: target,
          Key: key,
          CopySource: `${bucket}/${encodeURIComponent(key)}?versionId=${source.VersionId}`,
          ChecksumAlgorithm: 'SHA256',
        }),
      );
      const checksum = copy.CopyObjectResult?.ChecksumSHA256;
      const copied = checksum
        ? Buffer.from(checksum, 'base64').toString('hex')
        : await sha256Of((await s3.send(new GetObjectCommand({ Bucket: target, Key: key, VersionId: copy.VersionId }))).Body as Readable);
      if (copied !== sha256) throw new Error(`${key}: copy has SHA-256 ${copied}, source ${sha256}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const cpu = process.cpuUsage(cpuAtStart);
  console.log(JSON.stringify({ objects: keys.length, ms: performance.now() - started, cpuSeconds: (cpu.user + cpu.system) / 1e6 }));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
