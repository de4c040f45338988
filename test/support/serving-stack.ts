import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, TEST_POLICY, type StackUnderTest } from './local-stack.js';

/**
 * What the model-serving tests share: the stack on the local AWS (test/support/test-policy.yml), a
 * local HTTP server standing for the providers (on 127.0.0.1), one API key in Secrets Manager
 * ({"apiKey"}), and the policy given its serving section once the server's URL and the key's ARN
 * are known (the policy file the functions load is rewritten before they are created).
 */
export interface ServingStack {
  t: StackUnderTest;
  /** The providers' server: http://127.0.0.1:<port>. */
  base: string;
  keyArn: string;
  /** The policy file the functions load. */
  policyPath: string;
  stop(): Promise<void>;
}

export async function startServingStack(options: {
  /** The providers' answer to a request (its body read whole). */
  answer: (req: IncomingMessage, body: string, res: ServerResponse) => void;
  /** More assets (YAML entries of the test policy's `assets:`, its last section), there from the stack's start. */
  assets?: string;
  /** YAML appended to the test policy (its serving section, drills), given the server and the key. */
  policy: (at: { base: string; keyArn: string }) => string;
  /** Runs on the stack before the policy is rewritten (objects to replicate, say). */
  before?: (t: StackUnderTest) => Promise<void>;
}): Promise<ServingStack> {
  const dir = mkdtempSync(join(tmpdir(), 'serving-stack-'));
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => options.answer(req, Buffer.concat(chunks).toString(), res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const policyPath = join(dir, 'policy.yml');
  const testPolicy = `${readFileSync(TEST_POLICY, 'utf8')}${options.assets ?? ''}`;
  writeFileSync(policyPath, testPolicy);
  const t = await startStack(policyPath);
  await options.before?.(t);
  const secret = new SecretsManagerClient({});
  const keyArn = (
    await secret.send(new CreateSecretCommand({ Name: 'provider-keys', SecretString: JSON.stringify({ apiKey: 'sk-test' }) }))
  ).ARN!;
  writeFileSync(policyPath, `${testPolicy}${options.policy({ base, keyArn })}`);
  return {
    t,
    base,
    keyArn,
    policyPath,
    stop: async () => {
      await t.stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The policy's serving section most serving tests use: the service "chat" (critical, RTO 5 min),
 * Anthropic's claude-opus-4-6 as its primary and OpenAI's gpt-4o-mini as its first fallback, both
 * on the providers' server under /claude and /gpt, with the stack's key.
 */
export function chatServing(
  at: { base: string; keyArn: string },
  options: { prefix: string; serving?: string; endpoint?: string; fallbacks?: string; service?: string },
): string {
  const endpoint = (id: string, provider: string, model: string) =>
    `{ id: ${id}, provider: ${provider}, model: ${model}, url: "${at.base}/${id}", credentialsSecretArn: "${at.keyArn}"${options.endpoint ?? ''} }`;
  return `serving:
  parameterPrefix: ${options.prefix}
${options.serving ?? ''}  services:
    - name: chat
      tier: critical
      rtoTargetMinutes: 5
      primary: ${endpoint('claude', 'anthropic', 'claude-opus-4-6')}
      fallbacks:
        - ${endpoint('gpt', 'openai', 'gpt-4o-mini')}
${options.fallbacks ?? ''}${options.service ?? ''}`;
}
