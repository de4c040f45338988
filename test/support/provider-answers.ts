import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../scripts/local-aws/venv.js';

/** An answer of a provider's API as its documentation shows it (test/fixtures/serving/provider-answers.json names the pages). */
export type ProviderAnswer = { status: number; body: unknown; headers?: Record<string, string> };

/** The recorded answers of Anthropic's, OpenAI's and Bedrock's APIs, by provider and case. */
export const providerAnswers = JSON.parse(readFileSync(join(projectRoot, 'test/fixtures/serving/provider-answers.json'), 'utf8')) as Record<
  'anthropic' | 'openai' | 'bedrock',
  Record<string, ProviderAnswer>
>;
