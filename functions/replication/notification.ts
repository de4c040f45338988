import { EventBridgeSchema } from '@aws-lambda-powertools/parser/schemas/eventbridge';
import { z } from 'zod';
import { decodeFormKey, MAX_KEY_BYTES } from '../shared/s3-keys.js';
import { MalformedNotificationError } from './errors.js';

/**
 * A queue message is a hint that something changed under a key: the replicator then reads the
 * key's versions from the source. Four shapes reach the queue:
 *  - S3 -> EventBridge -> SQS (the default wiring): one EventBridge event from source "aws.s3";
 *  - S3 -> SQS notification: { Records: [...] } with URL-encoded keys (spaces as '+');
 *  - either of them wrapped by SNS ({ Type: "Notification", Message: "..." });
 *  - keys queued by the reconcile function ({ reconcile: { bucket, keys } }).
 * The EventBridge envelope is Powertools' schema; inside it only the fields the replicator uses are
 * read, so a new field in AWS's events is never a failure.
 */
export interface ChangeHint {
  bucket: string;
  /** Candidate keys: a key may arrive URL-encoded; every candidate is synced (syncing is idempotent). */
  keys: string[];
  /**
   * The version the event says was created (an object, or a delete marker), when it names one and
   * its key has one reading: replication claims it before it reads anything, so a duplicate event
   * costs one ledger request. Absent for permanent deletions, unversioned buckets and reconcile's
   * hints: then the key's listing is the only guide.
   */
  version?: CreatedVersion;
}

export interface CreatedVersion {
  versionId: string;
  kind: 'object' | 'delete-marker';
  /** The object's size, when the event says. */
  size?: number;
  /** When the event happened (ISO 8601), if it says: the pending entry's time until the listing gives the write time. */
  time?: string;
}

const eventBridgeEvent = EventBridgeSchema.extend({
  source: z.literal('aws.s3'),
  detail: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({
      key: z.string().min(1),
      size: z.number().int().nonnegative().optional(),
      'version-id': z.string().optional(),
    }),
    'deletion-type': z.string().optional(),
  }),
});

const s3Notification = z.object({
  Records: z
    .array(
      z.object({
        eventSource: z.literal('aws:s3'),
        eventName: z.string().optional(),
        eventTime: z.string().optional(),
        s3: z.object({
          bucket: z.object({ name: z.string().min(1) }),
          object: z.object({
            key: z.string().min(1),
            size: z.number().int().nonnegative().optional(),
            versionId: z.string().optional(),
          }),
        }),
      }),
    )
    .min(1),
});

/**
 * The created version of an event, when the key has one reading (a version claimed under a wrong
 * reading would be an entry of a key that does not exist) and the bucket is versioned ("null" is an
 * unversioned bucket's overwritten object, told apart only by its time in the listing).
 */
function createdVersion(
  keys: string[],
  kind: CreatedVersion['kind'] | undefined,
  versionId: string | undefined,
  size: number | undefined,
  time: unknown,
): { version?: CreatedVersion } {
  if (!kind || !versionId || versionId === 'null' || keys.length !== 1) return {};
  const when = typeof time === 'string' && !Number.isNaN(Date.parse(time)) ? new Date(time).toISOString() : undefined;
  return {
    version: { versionId, kind, ...(kind === 'delete-marker' ? { size: 0 } : size !== undefined && { size }), ...(when && { time: when }) },
  };
}

/** Keys queued by the reconcile function (raw keys, not encoded). */
const reconcileHint = z.object({
  reconcile: z.object({ bucket: z.string().min(1), keys: z.array(z.string().min(1)).min(1) }),
});

const s3TestEvent = z.object({ Event: z.literal('s3:TestEvent') });
const snsEnvelope = z.object({ Type: z.literal('Notification'), Message: z.string() });

/**
 * The usable readings of a key: valid URL encoding and at most 1024 bytes. Fails only when no
 * reading is usable (a long key may be over the limit only in its encoded spelling).
 */
function checkedKeys(keys: (string | undefined)[], where: string): string[] {
  const readings = [...new Set(keys.filter((k): k is string => k !== undefined && k.length > 0))];
  const usable = readings.filter((k) => Buffer.byteLength(k, 'utf8') <= MAX_KEY_BYTES);
  if (usable.length > 0) return usable;
  if (readings.length === 0) throw new MalformedNotificationError(`${where}: key is not valid URL encoding`);
  throw new MalformedNotificationError(`${where}: key is longer than ${MAX_KEY_BYTES} bytes`);
}

export function parseNotification(body: string): ChangeHint[] {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new MalformedNotificationError('message body is not JSON');
  }
  const sns = snsEnvelope.safeParse(json);
  if (sns.success) return parseNotification(sns.data.Message);

  const eb = eventBridgeEvent.safeParse(json);
  if (eb.success) {
    const { bucket, object, 'deletion-type': deletion } = eb.data.detail;
    // EventBridge may deliver the key as stored or form-encoded; sync both readings.
    const keys = checkedKeys([object.key, decodeFormKey(object.key)], 'detail.object.key');
    const detailType = eb.data['detail-type'];
    const kind =
      detailType === 'Object Created'
        ? 'object'
        : detailType === 'Object Deleted' && deletion === 'Delete Marker Created'
          ? 'delete-marker'
          : undefined;
    return [{ bucket: bucket.name, keys, ...createdVersion(keys, kind, object['version-id'], object.size, eb.data.time) }];
  }
  const s3 = s3Notification.safeParse(json);
  if (s3.success) {
    return s3.data.Records.map((r, i) => {
      const keys = checkedKeys([decodeFormKey(r.s3.object.key)], `Records[${i}].s3.object.key`);
      const name = r.eventName ?? '';
      const kind = name.startsWith('ObjectCreated:')
        ? 'object'
        : name === 'ObjectRemoved:DeleteMarkerCreated'
          ? 'delete-marker'
          : undefined;
      return { bucket: r.s3.bucket.name, keys, ...createdVersion(keys, kind, r.s3.object.versionId, r.s3.object.size, r.eventTime) };
    });
  }
  const reconcile = reconcileHint.safeParse(json);
  if (reconcile.success) {
    const { bucket, keys } = reconcile.data.reconcile;
    return keys.map((key, i) => ({ bucket, keys: checkedKeys([key], `reconcile.keys[${i}]`) }));
  }
  if (s3TestEvent.safeParse(json).success) return [];

  const looksLikeEventBridge = typeof json === 'object' && json !== null && 'detail' in json;
  const issues = (looksLikeEventBridge ? eb : s3).error?.issues ?? [];
  const first = issues[0];
  const where = first ? first.path.join('.') || '(body)' : '(body)';
  throw new MalformedNotificationError(
    `not an S3 event notification (expected an EventBridge "aws.s3" event or S3 Records): ${where}: ${first?.message ?? 'unrecognised shape'}`,
  );
}
