import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { formatPath } from '../policy/load.js';

/** The environment a function runs with, parsed once; a missing or bad variable is named. */
const envSchema = z.object({
  LEDGER_TABLE: z.string().min(1),
  DR_POLICY_FILE: z.string().min(1).default('dr-policy.yml'),
  DR_LEASE_SECONDS: z.coerce.number().int().positive().default(360),
  DR_S3_FORCE_PATH_STYLE: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
});

export type Config = z.infer<typeof envSchema> & { policyPath: string };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function parseConfig(env: NodeJS.ProcessEnv): Config {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
    throw new ConfigError(`invalid environment: ${problems.join('; ')}`);
  }
  const root = env.LAMBDA_TASK_ROOT ?? process.cwd();
  const file = result.data.DR_POLICY_FILE;
  return { ...result.data, policyPath: isAbsolute(file) ? file : join(root, file) };
}
