import { randomUUID } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoLedger } from '../ledger/dynamo-ledger.js';
import { loadPolicyFile } from '../policy/load.js';
import type { ObjectAsset } from '../policy/schema.js';
import { dynamoDocumentClient, sqsClient } from '../shared/aws-clients.js';
import type { Config } from '../shared/config.js';
import { createStores } from '../storage/stores.js';
import { multipartOf } from '../policy/multipart.js';
import { lockOf } from '../policy/object-lock.js';
import { type ReplicationDeps } from './replicate-key.js';
import { Replicator } from './replicator.js';

/** Composition root: wires the replicator to AWS adapters. Called once per container. */
export function createReplicator(config: Config, now: () => Date = () => new Date()): Replicator {
  const policy = loadPolicyFile(config.policyPath);
  const ledger = new DynamoLedger(dynamoDocumentClient(), config.LEDGER_TABLE);
  const stores = createStores(config.DR_S3_FORCE_PATH_STYLE);
  // Lambda runs one invocation per container at a time: a per-container id identifies the holder.
  const claimOwner = randomUUID();
  const depsFor = (asset: ObjectAsset): ReplicationDeps => ({
    source: stores.sourceOf(asset).store,
    serverSideCopy: stores.sourceOf(asset).serverSideCopy,
    replica: stores.replicaOf(asset),
    ledger,
    now,
    claimOwner,
    claimSeconds: config.DR_LEASE_SECONDS,
    multipart: multipartOf(policy),
    lock: lockOf(policy, asset),
  });
  return new Replicator(policy, depsFor);
}

/**
 * Queues a message again: a long copy continues in the next invocation (its upload and parts are
 * kept in the ledger), or a version waits for an earlier one another invocation holds (after
 * `delaySeconds`). A new message starts its receive count afresh, so waiting never dead-letters.
 * Undefined when the queue URL is not configured: the message is then retried after its visibility
 * timeout instead.
 */
export function createContinuations(config: Config): ((body: string, delaySeconds?: number) => Promise<void>) | undefined {
  const url = config.REPLICATION_QUEUE_URL;
  if (!url) return undefined;
  const sqs = sqsClient();
  return async (body, delaySeconds) => {
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body, ...(delaySeconds && { DelaySeconds: delaySeconds }) }));
  };
}
