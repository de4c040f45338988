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

  async describe(region: string, endpointName: string, options: { modelData: boolean; signal: AbortSignal }): Promise<EndpointDescription> {
    const client = this.client(region);
    const send = { abortSignal: options.signal };
    const endpoint = await client.send(new DescribeEndpointCommand({ EndpointName: endpointName }), send);
    const description: EndpointDescription = {
      status: endpoint.EndpointStatus ?? 'unknown',
      ...(endpoint.FailureReason && { failureReason: endpoint.FailureReason }),
      lastModified: endpoint.LastModifiedTime ?? endpoint.CreationTime ?? new Date(0),
    };
    if (!options.modelData || description.status !== 'InService') return description;
    const config = await client.send(new DescribeEndpointConfigCommand({ EndpointConfigName: endpoint.EndpointConfigName }), send);
    const models = [...new Set((config.ProductionVariants ?? []).flatMap((v) => (v.ModelName ? [v.ModelName] : [])))];
    const data = await Promise.all(
      models.map(async (name) => {
        const model = await client.send(new DescribeModelCommand({ ModelName: name }), send);
        return [modelDataOf(model.PrimaryContainer), ...(model.Containers ?? []).map(modelDataOf)].filter((u): u is string => Boolean(u));
      }),
    );
    return { ...description, modelData: data.flat() };
  }
}
