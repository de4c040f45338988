// serverless.yml resolves ${file(./infra/stack-config.cjs):<property>} through this function:
// it loads the DR policy (DR_POLICY_FILE, default dr-policy.yml), validates it and derives the
// policy-dependent parts of the stack (infra/stack-config.ts). osls loads .cjs files only, so the
// TypeScript is loaded with tsx.
const path = require('node:path');
const { require: tsxRequire } = require('tsx/cjs/api');

let cached;
module.exports = async () => {
  if (!cached) {
    const { stackConfig } = tsxRequire('./stack-config.ts', __filename);
    const file = process.env.DR_POLICY_FILE || 'dr-policy.yml';
    cached = stackConfig(path.resolve(__dirname, '..', file));
  }
  return cached;
};
