import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { z } from 'zod';
import { secretsManagerClient } from './aws-clients.js';

export class SecretFormatError extends Error {
  override readonly name = 'SecretFormatError';
}

/**
 * A Secrets Manager secret holding JSON, parsed with `schema`. A secret that is not such JSON fails
 * with a message naming the secret and the fields it must hold (never the secret's content).
 */
export async function readJsonSecret<T>(arn: string, schema: z.ZodType<T>, shape: string): Promise<T> {
  const { SecretString } = await secretsManagerClient().send(new GetSecretValueCommand({ SecretId: arn }));
  let parsed: unknown;
  try {
    parsed = JSON.parse(SecretString ?? '');
  } catch {
    parsed = undefined;
  }
  const result = schema.safeParse(parsed);
  if (!result.success) throw new SecretFormatError(`secret ${arn} must hold JSON ${shape}`);
  return result.data;
}
