import {
  GetBucketVersioningCommand,
  GetObjectLockConfigurationCommand,
  S3ServiceException,
  type S3ClientResolvedConfig,
  type ServiceInputTypes,
  type ServiceOutputTypes,
} from '@aws-sdk/client-s3';
import type { AwsStub } from 'aws-sdk-client-mock';

/** S3's answer to GetObjectLockConfiguration on a bucket that never had Object Lock. */
export const noObjectLockConfiguration = () =>
  new S3ServiceException({
    name: 'ObjectLockConfigurationNotFoundError',
    $fault: 'client',
    $metadata: { httpStatusCode: 404 },
    message: 'Object Lock configuration does not exist for this bucket',
  });

/** Every bucket of the mock is versioned, without Object Lock (what a write checks before it writes). */
export function versionedWithoutObjectLock(s3: AwsStub<ServiceInputTypes, ServiceOutputTypes, S3ClientResolvedConfig>): void {
  s3.on(GetObjectLockConfigurationCommand).rejects(noObjectLockConfiguration());
  s3.on(GetBucketVersioningCommand).resolves({ Status: 'Enabled' });
}
