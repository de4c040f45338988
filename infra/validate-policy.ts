import { PolicyError, loadPolicyFile } from '../functions/policy/load.js';
import { replicatedAssets } from '../functions/policy/assets.js';

/** `npm run validate-policy [file]`: one line saying the policy is valid, or what is wrong and where. */
const file = process.argv[2] ?? process.env.DR_POLICY_FILE ?? 'dr-policy.yml';
try {
  const policy = loadPolicyFile(file);
  console.log(
    `${file}: valid (${policy.assets.length} assets, ${replicatedAssets(policy).length} replicated by this release, stack in ${policy.deployment.region})`,
  );
} catch (error: unknown) {
  if (!(error instanceof PolicyError)) throw error;
  console.error(error.message);
  process.exitCode = 1;
}
