import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';

/** Asks for another invocation to continue work that did not finish in this one. */
export interface Continuation {
  continueLater(payload: Record<string, unknown>): Promise<void>;
}

/** Continues in a new asynchronous invocation of the same function (its role may invoke only itself). */
export class LambdaSelfContinuation implements Continuation {
  constructor(
    private readonly lambda: LambdaClient,
    private readonly functionName: string,
  ) {}

  async continueLater(payload: Record<string, unknown>): Promise<void> {
    await this.lambda.send(
      new InvokeCommand({ FunctionName: this.functionName, InvocationType: 'Event', Payload: JSON.stringify(payload) }),
    );
  }
}
