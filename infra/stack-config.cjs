// serverless.yml resolves ${file(./infra/stack-config.cjs):<property>} through this function:
// it loads the DR policy (DR_POLICY_FILE, default dr-policy.yml), validates it and derives the
// policy-dependent parts of the stack (infra/stack-config.ts). osls loads .cjs files only, so the
// TypeScript is loaded with tsx.
const path = require('node:path');
const { require: tsxRequire } = require('tsx/cjs/api');

const cached = new Map();
module.exports = async ({ resolveVariable }) => {
  // The stage names the functions (`<service>-<stage>-<name>`); it is read like ${sls:stage}.
  const stage = await resolveVariable('self:provider.stage');
  if (!cached.has(stage)) {
    const { stackConfig } = tsxRequire('./stack-config.ts', __filename);
    const file = process.env.DR_POLICY_FILE || 'dr-policy.yml';
    cached.set(stage, stackConfig(path.resolve(__dirname, '..', file), stage));
  }
  return cached.get(stage);
};
