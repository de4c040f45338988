import { METRIC_NAMESPACE, SERVICE_NAME } from '../functions/shared/service.js';

export { METRIC_NAMESPACE, SERVICE_NAME };

/**
 * The service's functions, in one place. The key is the function's key in serverless.yml (so its
 * resources are `<Key>LambdaFunction`, `<Key>LogGroup`); `name` is what follows the stack name in
 * its deployed name (`ai-data-dr-<stage>-<name>`, and so its log group); `role` names the function
 * whose role it runs with, when that is not its own (backfill runs the replicate logic).
 * serverless.yml takes each function's name and role from here (`custom.functions`); the roles,
 * their log and invoke permissions and the error alarms are generated from this list.
 */
export const serviceFunctions = {
  replicate: { name: 'replicate' },
  measureRpo: { name: 'measure-rpo' },
  status: { name: 'status' },
  reconcile: { name: 'reconcile' },
  backfill: { name: 'backfill', role: 'replicate' },
  snapshotVectors: { name: 'snapshot-vectors' },
  restoreData: { name: 'restore-data' },
  restoreVectors: { name: 'restore-vectors' },
  verifyRestore: { name: 'verify-restore' },
  drDrill: { name: 'dr-drill' },
  report: { name: 'report' },
  lineage: { name: 'lineage' },
  probeServing: { name: 'probe-serving' },
} as const satisfies Record<string, { name: string; role?: string }>;

export type FunctionKey = keyof typeof serviceFunctions;
/** A function that has a role of its own. */
export type RoleOwner = { [K in FunctionKey]: (typeof serviceFunctions)[K] extends { role: string } ? never : K }[FunctionKey];

export const functionKeys = Object.keys(serviceFunctions) as FunctionKey[];

const upperFirst = (key: string) => key[0]!.toUpperCase() + key.slice(1);

/** How osls names a function in logical ids (`measureRpo` → `MeasureRpo`, as in `MeasureRpoLogGroup`). */
export const functionId = (key: FunctionKey) => upperFirst(key);

/** The logical id osls gives the function's resource (`replicate` → `ReplicateLambdaFunction`). */
export const functionLogicalId = (key: FunctionKey) => `${functionId(key)}LambdaFunction`;

const roleOwner = (key: FunctionKey): RoleOwner => {
  const fn: { name: string; role?: RoleOwner } = serviceFunctions[key];
  return fn.role ?? (key as RoleOwner);
};

/** The functions that have a role of their own, in list order. */
export const roleOwners = functionKeys.filter((key): key is RoleOwner => roleOwner(key) === key);

/** The logical id of the IAM role a function runs with (`ReplicateRole` for replicate and backfill). */
export const roleLogicalId = (key: FunctionKey) => `${functionId(roleOwner(key))}Role`;

/** The functions that run with `owner`'s role, in list order. */
export const functionsWithRole = (owner: RoleOwner): FunctionKey[] => functionKeys.filter((key) => roleOwner(key) === owner);

/** A function's deployed name inside CloudFormation (for its log group and invoke ARNs). */
export const deployedName = (key: FunctionKey) => `\${AWS::StackName}-${serviceFunctions[key].name}`;

/**
 * What serverless.yml sets on each function (`custom.functions.<key>`): its deployed name
 * (`<service>-<stage>-<name>`; the stack is `<service>-<stage>`) and its role.
 */
export function functionSettings(stage: string) {
  return Object.fromEntries(
    functionKeys.map((key) => [
      key,
      { name: `${SERVICE_NAME}-${stage}-${serviceFunctions[key].name}`, role: { 'Fn::GetAtt': [roleLogicalId(key), 'Arn'] } },
    ]),
  ) as Record<FunctionKey, { name: string; role: { 'Fn::GetAtt': [string, 'Arn'] } }>;
}
