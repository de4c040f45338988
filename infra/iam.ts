import { deployedName, type FunctionKey, functionsWithRole, type RoleOwner } from './service.js';

/** The building blocks of the functions' roles (infra/roles.ts). */

export type Json = Record<string, unknown>;

export const s3Arn = (resource: string) => ({ 'Fn::Sub': `arn:\${AWS::Partition}:s3:::${resource}` });

export const ledgerTableArn = { 'Fn::GetAtt': ['LedgerTable', 'Arn'] };
/** The ledger table and its indexes. */
export const ledgerTableAndIndexes = [ledgerTableArn, { 'Fn::Sub': '${LedgerTable.Arn}/index/*' }];

/** Items of the ledger table whose partition key starts with one of `prefixes`. */
export const ledgerItems = (sid: string, actions: string[] | string, prefixes: string[]): Json => ({
  Sid: sid,
  Effect: 'Allow',
  Action: actions,
  Resource: ledgerTableArn,
  Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': prefixes } },
});

/** The basics every function role has: the log groups of the functions that use it, and traces. */
function runtimeStatements(owner: RoleOwner): Json[] {
  const logGroups = functionsWithRole(owner).map((key) => ({
    'Fn::Sub': `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/${deployedName(key)}:*`,
  }));
  return [
    {
      Sid: 'Logs',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: logGroups.length === 1 ? logGroups[0] : logGroups,
    },
    { Sid: 'Tracing', Effect: 'Allow', Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], Resource: '*' },
  ];
}

/** Invoking one of the stack's functions (by its key in the function list). */
export const invokeFunction = (sid: string, key: FunctionKey): Json => ({
  Sid: sid,
  Effect: 'Allow',
  Action: 'lambda:InvokeFunction',
  Resource: { 'Fn::Sub': `arn:\${AWS::Partition}:lambda:\${AWS::Region}:\${AWS::AccountId}:function:${deployedName(key)}` },
});

/** Invoking the function itself again, to continue work that did not fit into one invocation. */
export const invokeItself = (owner: RoleOwner): Json => invokeFunction('ContinueItself', owner);

/**
 * The IAM role of a function (and of the functions that share it), from its inline policies in
 * order: the first begins with the runtime statements (logs, traces), so no role can lack them.
 */
export function functionRole(owner: RoleOwner, policies: [name: string, statements: Json[]][]): Json {
  return {
    Type: 'AWS::IAM::Role',
    Properties: {
      AssumeRolePolicyDocument: {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      },
      Policies: policies.map(([name, statements], i) => ({
        PolicyName: name,
        PolicyDocument: { Version: '2012-10-17', Statement: i === 0 ? [...runtimeStatements(owner), ...statements] : statements },
      })),
    },
  };
}
