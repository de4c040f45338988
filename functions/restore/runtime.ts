import { DynamoLedger } from '../ledger/dynamo-ledger.js';
import { loadPolicyFile } from '../policy/load.js';
import type { ObjectAsset, Policy } from '../policy/schema.js';
import { multipartOf } from '../policy/multipart.js';
import { dynamoDocumentClient, lambdaClient, s3Client, s3ControlClient } from '../shared/aws-clients.js';
import type { Config } from '../shared/config.js';
import { LambdaSelfContinuation, type Continuation } from '../shared/continuation.js';
import { createStores } from '../storage/stores.js';
import { dataPlanStore } from './dynamo-plan-store.js';
import { S3ControlBatchJobs } from './s3-control-batch-jobs.js';
import { S3JobFiles } from './s3-job-files.js';
import type { DataRestorer } from './restore-data.js';

/**
 * Composition root of restore-data: plans in the ledger table, replica and target stores on S3. A
 * restore that does not fit one invocation continues in a new one of `functionName`, unless the
 * caller continues it itself (a drill: `continuation`).
 */
export function createDataRestorer(
  config: Config,
  functionName: string,
  now: () => Date = () => new Date(),
  continuation: Continuation = new LambdaSelfContinuation(lambdaClient(), functionName),
) {
  const policy: Policy = loadPolicyFile(config.policyPath);
  const db = dynamoDocumentClient();
  const ledger = new DynamoLedger(db, config.LEDGER_TABLE);
  const plans = dataPlanStore(db, config.LEDGER_TABLE);
  const stores = createStores(config.DR_S3_FORCE_PATH_STYLE);
  return {
    policy,
    /**
     * One invocation's restorer: `remainingMs` is its time left; `context` (the Lambda's) names the
     * function a batch restore's job invokes and the account it runs in.
     */
    depsFor: (remainingMs: () => number, context?: { invokedFunctionArn: string }): DataRestorer => ({
      policy,
      now,
      plans,
      forAsset: (asset: ObjectAsset, targetRegion: string) => ({
        ledger,
        replica: stores.replicaOf(asset),
        target: stores.inRegion(targetRegion),
        plans,
        continuation,
        now,
        remainingMs,
        multipart: multipartOf(policy),
        // (`osls invoke local` gives no function ARN: no batch restores there.)
        ...(config.RESTORE_BATCH_ROLE &&
          context?.invokedFunctionArn && {
            batch: {
              // The job runs in the stack's region and account, as the function it invokes does.
              jobs: new S3ControlBatchJobs(s3ControlClient(policy.deployment.region), arnOf(context).account, arnOf(context).partition),
              files: new S3JobFiles(s3Client(asset.replica.region, config.DR_S3_FORCE_PATH_STYLE, { writes: true }), asset.replica.bucket),
              functionArn: arnOf(context).unqualified,
              roleArn: `arn:${arnOf(context).partition}:iam::${arnOf(context).account}:role/${config.RESTORE_BATCH_ROLE}`,
            },
          }),
      }),
    }),
  };
}

/** The invoked function's ARN without its qualifier (an alias or version: the job's role may invoke the function), partition, account. */
function arnOf(context: { invokedFunctionArn: string }) {
  const parts = context.invokedFunctionArn.split(':');
  return { unqualified: parts.slice(0, 7).join(':'), partition: parts[1]!, account: parts[4]! };
}
