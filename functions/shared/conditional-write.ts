import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

/**
 * Runs a DynamoDB write that has a condition: true when it was written, false when the condition
 * did not hold (another invocation won, a lease is taken). Every other error is thrown.
 */
export async function writeIf(write: () => Promise<unknown>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}
