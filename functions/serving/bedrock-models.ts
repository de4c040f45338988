import {
  type BedrockClient,
  GetFoundationModelAvailabilityCommand,
  GetFoundationModelCommand,
  GetInferenceProfileCommand,
} from '@aws-sdk/client-bedrock';
import type { BedrockModels, FoundationModel, InferenceProfile, ModelAvailability } from './bedrock-probe.js';

/** Bedrock's control plane (GetFoundationModel, GetFoundationModelAvailability, GetInferenceProfile). */
export class SdkBedrockModels implements BedrockModels {
  constructor(private readonly client: (region: string) => BedrockClient) {}

  async foundationModel(region: string, modelId: string, signal: AbortSignal): Promise<FoundationModel> {
    const { modelDetails } = await this.client(region).send(new GetFoundationModelCommand({ modelIdentifier: modelId }), {
      abortSignal: signal,
    });
    const lifecycle = modelDetails?.modelLifecycle;
    return {
      modelId: modelDetails?.modelId ?? modelId,
      ...(lifecycle?.status && {
        lifecycle: { status: lifecycle.status, ...(lifecycle.endOfLifeTime && { endOfLifeTime: lifecycle.endOfLifeTime }) },
      }),
    };
  }

  async availability(region: string, modelId: string, signal: AbortSignal): Promise<ModelAvailability> {
    const a = await this.client(region).send(new GetFoundationModelAvailabilityCommand({ modelId }), { abortSignal: signal });
    return {
      authorizationStatus: a.authorizationStatus ?? 'unknown',
      entitlementAvailability: a.entitlementAvailability ?? 'unknown',
      regionAvailability: a.regionAvailability ?? 'unknown',
      agreementAvailability: {
        status: a.agreementAvailability?.status ?? 'unknown',
        ...(a.agreementAvailability?.errorMessage && { errorMessage: a.agreementAvailability.errorMessage }),
      },
    };
  }

  async inferenceProfile(region: string, id: string, signal: AbortSignal): Promise<InferenceProfile> {
    const p = await this.client(region).send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: id }), { abortSignal: signal });
    return { status: p.status ?? 'unknown', modelArns: (p.models ?? []).flatMap((m) => (m.modelArn ? [m.modelArn] : [])) };
  }
}
