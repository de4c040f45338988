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

/**
 * Holds the continuations asked for while a lease is held, and sends them once it is let go
 * (`flush`): a continuation sent earlier could start before the release and find the lease taken.
 */
export class DeferredContinuation implements Continuation {
  private readonly payloads: Record<string, unknown>[] = [];
  constructor(private readonly target: Continuation) {}

  async continueLater(payload: Record<string, unknown>): Promise<void> {
    this.payloads.push(payload);
  }

  async flush(): Promise<void> {
    const payloads = this.payloads.splice(0);
    await Promise.all(payloads.map((payload) => this.target.continueLater(payload)));
  }
}
