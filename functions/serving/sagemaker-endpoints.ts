import {
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
  DescribeModelCommand,
  type ContainerDefinition,
  type SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import type { EndpointDescription, SageMakerEndpoints } from './sagemaker-probe.js';

/** The model data a container serves: its ModelDataUrl, or its uncompressed S3 model data source. */
const modelDataOf = (c: ContainerDefinition | undefined) => c?.ModelDataUrl ?? c?.ModelDataSource?.S3DataSource?.S3Uri;

/** SageMaker's control plane (DescribeEndpoint, DescribeEndpointConfig, DescribeModel): what an endpoint serves. */
export class SdkSageMakerEndpoints implements SageMakerEndpoints {
  constructor(private readonly client: (region: string) => SageMakerClient) {}

  async describe(region: string, endpointName: string, signal: AbortSignal): Promise<EndpointDescription> {
    const endpoint = await this.client(region).send(new DescribeEndpointCommand({ EndpointName: endpointName }), { abortSignal: signal });
    return {
      status: endpoint.EndpointStatus ?? 'unknown',
      ...(endpoint.FailureReason && { failureReason: endpoint.FailureReason }),
      lastModified: endpoint.LastModifiedTime ?? endpoint.CreationTime ?? new Date(0),
      endpointConfigName: endpoint.EndpointConfigName ?? '',
    };
  }

  async modelData(region: string, endpointConfigName: string, signal: AbortSignal): Promise<string[]> {
    const client = this.client(region);
    const send = { abortSignal: signal };
    const config = await client.send(new DescribeEndpointConfigCommand({ EndpointConfigName: endpointConfigName }), send);
    const models = [...new Set((config.ProductionVariants ?? []).flatMap((v) => (v.ModelName ? [v.ModelName] : [])))];
    const data = await Promise.all(
      models.map(async (name) => {
        const model = await client.send(new DescribeModelCommand({ ModelName: name }), send);
        return [modelDataOf(model.PrimaryContainer), ...(model.Containers ?? []).map(modelDataOf)].filter((u): u is string => Boolean(u));
      }),
    );
    return data.flat();
  }
}
