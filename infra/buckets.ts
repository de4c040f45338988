import type { Policy } from '../functions/policy/schema.js';
import { logicalId } from './event-rules.js';
import type { Json } from './iam.js';

/** The replica buckets of the policy: versioned, private, encrypted, TLS-only, retained. */
export function replicaBucketResources(policy: Policy): Json {
  const resources: Json = {};
  for (const bucket of [...new Set(policy.assets.map((a) => a.replica.bucket))]) {
    const id = logicalId('ReplicaBucket', bucket);
    resources[id] = {
      Type: 'AWS::S3::Bucket',
      // A DR copy outlives the stack: removing the stack never deletes the replica.
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        BucketName: bucket,
        VersioningConfiguration: { Status: 'Enabled' },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: true }],
        },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        LifecycleConfiguration: {
          Rules: [
            { Id: 'abort-incomplete-multipart-uploads', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } },
          ],
        },
        Tags: [{ Key: 'ai-data-dr:role', Value: 'replica' }],
      },
    };
    resources[`${id}Policy`] = {
      Type: 'AWS::S3::BucketPolicy',
      Properties: {
        Bucket: { Ref: id },
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'DenyInsecureTransport',
              Effect: 'Deny',
              Principal: '*',
              Action: 's3:*',
              Resource: [{ 'Fn::GetAtt': [id, 'Arn'] }, { 'Fn::Sub': `\${${id}.Arn}/*` }],
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            },
          ],
        },
      },
    };
  }
  return resources;
}
