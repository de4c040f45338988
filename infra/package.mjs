// `npm run package`: `osls package` with dummy credentials when none are set, so packaging works
// offline and on machines without AWS access. The template lands in .serverless/.
import { spawnSync } from 'node:child_process';

const env = { ...process.env };
if (!env.AWS_ACCESS_KEY_ID && !env.AWS_PROFILE) {
  env.AWS_ACCESS_KEY_ID = 'packaging-only';
  env.AWS_SECRET_ACCESS_KEY = 'packaging-only';
}
const result = spawnSync('osls', ['package', ...process.argv.slice(2)], { stdio: 'inherit', env, shell: false });
process.exit(result.status ?? 1);
