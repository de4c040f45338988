import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

/**
 * The one way a DynamoDB write with a condition is run: true when it was written, false when the
 * condition did not hold (another invocation won, a lease is taken, the entry is replicated
 * already). Every other error is thrown. The error is known by its class or, where a client was
 * built from another copy of the SDK, by its name.
 */
export async function writeIf(write: () => Promise<unknown>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (error: unknown) {
    if (
      error instanceof ConditionalCheckFailedException ||
      (error as { name?: unknown } | null)?.name === 'ConditionalCheckFailedException'
    )
      return false;
    throw error;
  }
}
