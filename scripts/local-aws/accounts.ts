import type { S3Client } from '@aws-sdk/client-s3';

/**
 * Accounts on the local AWS. moto serves each request in the account the request names with its
 * `x-moto-account-id` header (else its default account, LOCAL_ACCOUNT), so one server holds the
 * stack's account and a vault account side by side, and S3 knows which owns each bucket.
 */

/** moto's default account: the stack's on the local AWS. */
export const LOCAL_ACCOUNT = '123456789012';

/** `client` (S3: the one service the tests use across accounts), its every request made as `account`. */
export function asAccount<C extends S3Client>(client: C, account: string): C {
  client.middlewareStack.add(
    (next) => (args) => {
      (args.request as { headers: Record<string, string> }).headers['x-moto-account-id'] = account;
      return next(args);
    },
    { step: 'build', name: 'motoAccount' },
  );
  return client;
}
