import { GetParameterCommand, ParameterNotFound, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { ActiveEndpoint } from './probe-round.js';

/**
 * The active endpoint of each model service as an SSM parameter, `<prefix><service>` (a String
 * holding the endpoint's id), which the application's gateway reads (docs/serving.md#switch).
 */
export class SsmActiveEndpoint implements ActiveEndpoint {
  constructor(
    private readonly ssm: SSMClient,
    private readonly prefix: string,
  ) {}

  async read(service: string): Promise<string | undefined> {
    try {
      return (await this.ssm.send(new GetParameterCommand({ Name: this.prefix + service }))).Parameter?.Value;
    } catch (error) {
      if (error instanceof ParameterNotFound) return undefined;
      throw error;
    }
  }

  async write(service: string, endpoint: string): Promise<void> {
    await this.ssm.send(
      new PutParameterCommand({
        Name: this.prefix + service,
        Value: endpoint,
        Type: 'String',
        Overwrite: true,
        Description: `active endpoint of model service ${service}, written by probe-serving (ai-data-dr)`,
      }),
    );
  }
}
