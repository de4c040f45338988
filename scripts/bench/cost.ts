/**
 * The cost line of bench:replication: dollars per million replicated versions for this project's
 * engine, from the requests the bench counted per version, Lambda GB-seconds estimated from the
 * engine's measured CPU and round trips, and AWS list prices; beside S3 Cross-Region Replication's
 * charge for the same versions.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { RequestCounts } from '../local-aws/server.js';
import { projectRoot } from '../local-aws/venv.js';

interface Price {
  usd: number;
  unit: string;
  source: string;
}

/**
 * AWS list prices (US East (N. Virginia) and US West (Oregon) are the same for these; on-demand,
 * first tier, no free tier), read 2026-12-02. AWS's own pricing pages could not be read here (no
 * network; the stored copies of aws.amazon.com/s3/pricing show unrendered price templates), so
 * each price is from the dated page named, or from AWS's pricing pages as commonly quoted where
 * no dated copy was found. They must be checked against aws.amazon.com/<service>/pricing before
 * the figures are quoted anywhere.
 */
export const PRICES = {
  s3PutCopyPostList: {
    usd: 0.005 / 1000,
    unit: 'request (PUT, COPY, POST, LIST; S3 Standard)',
    source: 'aws.amazon.com/s3/pricing as commonly quoted (no dated copy found: check)',
  },
  s3GetAndOther: {
    usd: 0.0004 / 1000,
    unit: 'request (GET, HEAD and all other; S3 Standard)',
    source: 'aws.amazon.com/s3/pricing as commonly quoted (no dated copy found: check)',
  },
  interRegionTransfer: {
    usd: 0.02,
    unit: 'GB between US regions (CRR, and a cross-region COPY or GET)',
    source: 'awsnegotiations.com/s3-replication-cost-strategy (June 2026: "~$0.02/GB across regions")',
  },
  replicationTimeControl: {
    usd: 0.015,
    unit: 'GB replicated with S3 RTC',
    source: 'aws.amazon.com/s3/pricing as commonly quoted (no dated copy found: check)',
  },
  dynamoWriteRequestUnit: {
    usd: 0.625 / 1e6,
    unit: 'write request unit (on-demand)',
    source: 'airbyte.com/data-engineering-resources/dynamodb-pricing (2025-07-21, after the Nov 2024 cut)',
  },
  dynamoReadRequestUnit: {
    usd: 0.125 / 1e6,
    unit: 'read request unit (on-demand)',
    source: 'airbyte.com/data-engineering-resources/dynamodb-pricing (2025-07-21, after the Nov 2024 cut)',
  },
  sqsRequest: {
    usd: 0.4 / 1e6,
    unit: 'request (standard queue, per 64 KiB chunk)',
    source: 'cloudburn.io/blog/amazon-sqs-pricing (March 2026)',
  },
  lambdaRequest: { usd: 0.2 / 1e6, unit: 'invocation', source: 'git.mcrn.ar lambda_local_runner docs/lambda-13-cost.md (undated: check)' },
  lambdaGbSecondArm: {
    usd: 0.0000133334,
    unit: 'GB-second (arm64, first tier)',
    source: 'cloudchipr.com/blog/aws-lambda-pricing (2024), git.mcrn.ar lambda-13-cost.md',
  },
  lambdaGbSecondX86: {
    usd: 0.0000166667,
    unit: 'GB-second (x86_64, first tier)',
    source: 'cloudchipr.com/blog/aws-lambda-pricing (2024), git.mcrn.ar lambda-13-cost.md',
  },
} satisfies Record<string, Price>;

/** Assumptions of the model, named where they are used. */
export const ASSUMPTIONS = {
  /** Lambda gives a function one full vCPU at 1,769 MB and a share proportional to memory below it. */
  fullVcpuMb: 1769,
  /** What one sequential round trip costs the function on AWS (S3 across regions is more, DynamoDB less): an assumption. */
  roundTripSeconds: 0.03,
  /** Each event's delivery to the queue (the EventBridge rule's SQS target): one SQS request. */
  deliverySqsRequests: 1,
};

export interface LambdaSettings {
  memoryMb: number;
  architecture: 'arm64' | 'x86_64';
  /** Records per invocation (the policy's replication.batchSize). */
  batchSize: number;
}

interface FunctionYml {
  memorySize?: number;
  architecture?: string;
  environment?: Record<string, unknown>;
}

/** A function's memory, architecture and NODE_OPTIONS as serverless.yml configures them (its own, else the provider's). */
export function functionSettings(name: string): Omit<LambdaSettings, 'batchSize'> & { nodeOptions?: string } {
  const yml = parse(readFileSync(join(projectRoot, 'serverless.yml'), 'utf8'), { logLevel: 'error' }) as {
    provider: FunctionYml;
    functions: Record<string, FunctionYml>;
  };
  const fn = yml.functions[name];
  if (!fn) throw new Error(`serverless.yml has no function ${name}`);
  const nodeOptions = fn.environment?.NODE_OPTIONS ?? yml.provider.environment?.NODE_OPTIONS;
  return {
    memoryMb: Number(fn.memorySize ?? yml.provider.memorySize ?? 1024),
    architecture: (fn.architecture ?? yml.provider.architecture) === 'arm64' ? 'arm64' : 'x86_64',
    ...(typeof nodeOptions === 'string' && { nodeOptions }),
  };
}

/** The replicate function's memory and architecture as serverless.yml configures them. */
export function replicateFunctionSettings(batchSize: number): LambdaSettings {
  const { memoryMb, architecture } = functionSettings('replicate');
  return { memoryMb, architecture, batchSize };
}

/** What one version (or one duplicate event) cost the engine in the bench, per version. */
export interface PerVersion {
  /** Requests per version by "<service> <Operation>", as counted (the poller's SQS requests included). */
  requests: RequestCounts;
  /** Object bytes the engine read per version (GetObject response bodies). */
  bytesRead: number;
  /** Object bytes copied into the replica per version (CopyObject / PutObject of its size). */
  bytesCopied: number;
  /** CPU seconds of the engine's process per version. */
  cpuSeconds: number;
  /** Sequential round trips of one version through the engine alone (SQS left out). */
  roundTrips: number;
}

/** AWS bills DynamoDB by request units, S3 by request class, SQS by request. */
function requestUnitCost(key: string, n: number, batchSize: number): number {
  const [service, operation = ''] = key.split(' ');
  if (service === 's3') {
    if (/^(Delete|Abort)/.test(operation)) return 0; // DELETE and abort are free
    return n * (/^(Get|Head)/.test(operation) ? PRICES.s3GetAndOther.usd : PRICES.s3PutCopyPostList.usd);
  }
  if (service === 'dynamodb') {
    // Items under 1 KB (one write unit each), reads under 4 KB (one read unit). A batch call writes
    // or reads one item per record of the batch: the counter sees calls, not items (an assumption).
    if (/^Batch(Write|Get)Item$/.test(operation))
      return n * batchSize * (operation.startsWith('BatchWrite') ? PRICES.dynamoWriteRequestUnit.usd : PRICES.dynamoReadRequestUnit.usd);
    if (/^Transact/.test(operation)) return n * 2 * batchSize * PRICES.dynamoWriteRequestUnit.usd;
    return n * (/^(Put|Update|Delete)Item$/.test(operation) ? PRICES.dynamoWriteRequestUnit.usd : PRICES.dynamoReadRequestUnit.usd);
  }
  if (service === 'sqs') return n * PRICES.sqsRequest.usd;
  throw new Error(`cost: no price for ${key}`);
}

/** The engine's dollars per version, by part. The function runs in the DR region, so what it reads from the source crosses regions too. */
export function engineCostPerVersion(v: PerVersion, lambda: LambdaSettings): Record<string, number> {
  const requests = Object.entries(v.requests).reduce((sum, [key, n]) => sum + requestUnitCost(key, n, lambda.batchSize), 0);
  // Billed duration: the CPU at the function's share of a vCPU, plus its round trips (a batch's records run in parallel).
  const cpuShare = Math.min(1, lambda.memoryMb / ASSUMPTIONS.fullVcpuMb);
  const seconds = v.cpuSeconds / cpuShare + (v.roundTrips * ASSUMPTIONS.roundTripSeconds) / lambda.batchSize;
  const gbSecond = lambda.architecture === 'arm64' ? PRICES.lambdaGbSecondArm.usd : PRICES.lambdaGbSecondX86.usd;
  return {
    requests,
    delivery: ASSUMPTIONS.deliverySqsRequests * PRICES.sqsRequest.usd,
    lambda: PRICES.lambdaRequest.usd / lambda.batchSize + seconds * (lambda.memoryMb / 1024) * gbSecond,
    transfer: ((v.bytesRead + v.bytesCopied) / 2 ** 30) * PRICES.interRegionTransfer.usd,
  };
}

/** S3 Cross-Region Replication's dollars per version of `bytes`: a replication PUT at the destination's class and the transfer (RTC extra). */
export function crrCostPerVersion(bytes: number): Record<string, number> {
  return { requests: PRICES.s3PutCopyPostList.usd, transfer: (bytes / 2 ** 30) * PRICES.interRegionTransfer.usd };
}

export const rtcCostPerVersion = (bytes: number) => (bytes / 2 ** 30) * PRICES.replicationTimeControl.usd;

export const total = (parts: Record<string, number>) => Object.values(parts).reduce((a, b) => a + b, 0);
