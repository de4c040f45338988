import { describe, expect, it } from 'vitest';
import { MalformedNotificationError } from '../../functions/replication/errors.js';
import { parseNotification } from '../../functions/replication/notification.js';
import { eventText, loadEvent } from '../support/fixtures.js';

describe('parseNotification', () => {
  it('reads bucket, key and the created version from an S3 EventBridge event', () => {
    const hints = parseNotification(eventText('s3-eventbridge/valid/object-created.json'));
    expect(hints).toEqual([
      {
        bucket: 'acme-ml-prod-data',
        keys: ['training/shards/shard-00000.jsonl'],
        version: { versionId: 'IYV3p45BT0ac8hjHg1houSdS1a.Mro8e', kind: 'object', size: 5, time: '2026-11-26T12:00:00.000Z' },
      },
    ]);
  });

  it('reads a delete marker’s event as its version; a permanent deletion names no version (the listing says what changed)', () => {
    const hints = parseNotification(eventText('s3-eventbridge/valid/object-deleted.json'));
    expect(hints[0]).toMatchObject({
      keys: ['training/shards/shard-00000.jsonl'],
      version: { versionId: '1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF', kind: 'delete-marker', size: 0 },
    });
    const permanent = loadEvent<{ detail: Record<string, unknown> }>('s3-eventbridge/valid/object-deleted.json');
    permanent.detail['deletion-type'] = 'Permanently Deleted';
    expect(parseNotification(JSON.stringify(permanent))[0]).not.toHaveProperty('version');
  });

  it('names no version for a key with two readings, an unversioned bucket’s "null" version, or an event without a size to read ahead by', () => {
    const event = loadEvent<{ detail: { object: Record<string, unknown> } }>('s3-eventbridge/valid/object-created.json');
    event.detail.object.key = 'training/a+b.txt';
    expect(parseNotification(JSON.stringify(event))[0]).not.toHaveProperty('version');
    event.detail.object.key = 'training/ab.txt';
    event.detail.object['version-id'] = 'null';
    expect(parseNotification(JSON.stringify(event))[0]).not.toHaveProperty('version');
    event.detail.object['version-id'] = 'v1';
    delete event.detail.object.size;
    expect(parseNotification(JSON.stringify(event))[0]?.version).toEqual({
      versionId: 'v1',
      kind: 'object',
      time: '2026-11-26T12:00:00.000Z',
    });
  });

  it('reads the created version from S3 notification records that carry one', () => {
    const records = {
      Records: [
        {
          eventSource: 'aws:s3',
          eventName: 'ObjectCreated:Put',
          eventTime: '2026-11-26T12:00:00.000Z',
          s3: { bucket: { name: 'b' }, object: { key: 'k1', size: 3, versionId: 'v1' } },
        },
        {
          eventSource: 'aws:s3',
          eventName: 'ObjectRemoved:DeleteMarkerCreated',
          s3: { bucket: { name: 'b' }, object: { key: 'k2', versionId: 'm1' } },
        },
        { eventSource: 'aws:s3', eventName: 'ObjectRemoved:Delete', s3: { bucket: { name: 'b' }, object: { key: 'k3', versionId: 'v9' } } },
      ],
    };
    expect(parseNotification(JSON.stringify(records)).map((h) => h.version)).toEqual([
      { versionId: 'v1', kind: 'object', size: 3, time: '2026-11-26T12:00:00.000Z' },
      { versionId: 'm1', kind: 'delete-marker', size: 0 },
      undefined,
    ]);
  });

  it('syncs both readings of an EventBridge key that may be form-encoded', () => {
    const hints = parseNotification(eventText('s3-eventbridge/valid/special-key.json'));
    // "cat photo+1 100%.jpg" is not valid URL encoding ("%.j"), so only the key as sent is used.
    expect(hints[0]?.keys).toEqual(['training/images/cat photo+1 100%.jpg']);

    const event = loadEvent<{ detail: { object: { key: string } } }>('s3-eventbridge/valid/special-key.json');
    event.detail.object.key = 'training/a+b%2Bc.txt';
    expect(parseNotification(JSON.stringify(event))[0]?.keys).toEqual(['training/a+b%2Bc.txt', 'training/a b+c.txt']);
  });

  it('decodes S3 notification keys: spaces as "+", "%2B" as "+", UTF-8 percent-escapes', () => {
    const hints = parseNotification(eventText('s3-notification/valid/object-created-encoded-key.json'));
    expect(hints).toEqual([
      {
        bucket: 'acme-ml-prod-data',
        keys: ['training/images/cat photo+1 100% été.jpg'],
        version: { versionId: '096fKKXTRTtl3on89fVO.nfljtsv6qko', kind: 'object', size: 1024, time: '2026-11-26T12:00:00.000Z' },
      },
    ]);
  });

  it('unwraps S3 notifications delivered through SNS', () => {
    const body = JSON.stringify({ Type: 'Notification', Message: eventText('s3-notification/valid/object-created-encoded-key.json') });
    expect(parseNotification(body)[0]?.keys).toEqual(['training/images/cat photo+1 100% été.jpg']);
  });

  it('ignores the s3:TestEvent S3 sends when notifications are configured', () => {
    expect(parseNotification(eventText('s3-notification/valid/test-event.json'))).toEqual([]);
  });

  it.each([
    ['s3-notification/invalid/not-json.txt', /not JSON/],
    ['s3-notification/invalid/bad-url-encoding.json', /Records\[0\]\.s3\.object\.key: key is not valid URL encoding/],
    ['s3-eventbridge/invalid/missing-key.json', /detail\.object\.key/],
    ['s3-eventbridge/invalid/wrong-source.json', /not an S3 event notification/],
  ])('rejects %s with one clear error', (path, message) => {
    expect(() => parseNotification(eventText(path))).toThrow(MalformedNotificationError);
    expect(() => parseNotification(eventText(path))).toThrow(message);
  });

  it('keeps a 1024-byte key whose encoded spelling is longer', () => {
    const key = `training/${'é'.repeat(507)}x`;
    expect(Buffer.byteLength(key)).toBe(1024);
    const event = loadEvent<{ detail: { object: { key: string } } }>('s3-eventbridge/valid/object-created.json');
    event.detail.object.key = encodeURIComponent(key);
    expect(parseNotification(JSON.stringify(event))[0]?.keys).toEqual([key]);
  });

  it('rejects keys longer than S3 allows (1024 bytes)', () => {
    const event = loadEvent<{ detail: { object: { key: string } } }>('s3-eventbridge/valid/object-created.json');
    event.detail.object.key = `training/${'é'.repeat(510)}`;
    expect(() => parseNotification(JSON.stringify(event))).toThrow(/longer than 1024 bytes/);
  });
});

describe('reconcile hints', () => {
  it('reads the keys reconcile queued, as they are (not encoded)', () => {
    expect(parseNotification(eventText('reconcile/valid/hint.json'))).toEqual([
      { bucket: 'acme-ml-prod-data', keys: ['training/shards/shard-00000.jsonl'] },
      { bucket: 'acme-ml-prod-data', keys: ['training/images/cat photo+1.jpg'] },
    ]);
  });
});
