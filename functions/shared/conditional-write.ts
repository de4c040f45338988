import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

const conditionFailed = (error: unknown): error is ConditionalCheckFailedException =>
  error instanceof ConditionalCheckFailedException || (error as { name?: unknown } | null)?.name === 'ConditionalCheckFailedException';

/**
 * The one way a DynamoDB write with a condition is run: true when it was written, false when the
 * condition did not hold (another invocation won, a claim is held, the entry is replicated
 * already). Every other error is thrown. The error is known by its class or, where a client was
 * built from another copy of the SDK, by its name.
 */
export async function writeIf(write: () => Promise<unknown>): Promise<boolean> {
  return (await writeOrBlocker(write)).written;
}

/**
 * As writeIf, for a write sent with `ReturnValuesOnConditionCheckFailure: 'ALL_OLD'`: when the
 * condition did not hold, the item that blocked it (DynamoDB returns it at no read cost), if any.
 */
export async function writeOrBlocker<T>(
  write: () => Promise<T>,
): Promise<{ written: true; result: T } | { written: false; blocker?: Record<string, unknown> }> {
  try {
    return { written: true, result: await write() };
  } catch (error: unknown) {
    if (!conditionFailed(error)) throw error;
    return { written: false, ...(error.Item && { blocker: unmarshall(error.Item) }) };
  }
}

/**
 * The one way a DynamoDB transaction with conditions is run: true when it was written, false when
 * one of its conditions did not hold (TransactionCanceledException). Every other error is thrown.
 */
export async function transactIf(write: () => Promise<unknown>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (error) {
    if ((error as { name?: string } | null)?.name === 'TransactionCanceledException') return false;
    throw error;
  }
}
