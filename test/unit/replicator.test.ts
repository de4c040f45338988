import { describe, expect, it, vi } from 'vitest';
import { loadPolicyFile } from '../../functions/policy/load.js';
import { MalformedNotificationError } from '../../functions/replication/errors.js';
import { Replicator } from '../../functions/replication/replicator.js';
import { TEST_POLICY } from '../support/local-stack.js';
import { loadEvent } from '../support/fixtures.js';

const parsing = vi.hoisted(() => ({ calls: 0 }));
vi.mock('../../functions/replication/notification.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../functions/replication/notification.js')>();
  return {
    ...actual,
    parseNotification: (body: string) => {
      parsing.calls++;
      return actual.parseNotification(body);
    },
  };
});

describe('a replication batch', () => {
  it('parses each message once, for its prefetch and its replication alike; a malformed one fails when it is replicated', async () => {
    const event = loadEvent<{ detail: { bucket: { name: string } } }>('s3-eventbridge/valid/object-created.json');
    event.detail.bucket.name = 'a-bucket-of-no-asset'; // no asset: nothing is read or written
    const body = JSON.stringify(event);
    const malformed = '{"not": "a notification"}';
    const replicator = new Replicator(loadPolicyFile(TEST_POLICY), () => {
      throw new Error('no key of these messages belongs to an asset');
    });

    const batch = replicator.batch();
    await batch.prefetch([body, malformed]);
    const outcome = await batch.replicateMessage(body);
    await expect(batch.replicateMessage(malformed)).rejects.toThrow(MalformedNotificationError);

    expect(outcome).toMatchObject({ keys: [], unmanaged: [{ bucket: 'a-bucket-of-no-asset' }] });
    expect(parsing.calls).toBe(2);
    await replicator.batch().replicateMessage(body); // a new batch parses again
    expect(parsing.calls).toBe(3);
  });
});
