/**
 * Invokes a handler in a process of its own, as one Lambda invocation: a test can kill it (SIGKILL)
 * halfway, as Lambda ends an invocation that crashes or runs out of time, with nothing run after.
 *   node --import tsx test/support/invoke-handler.ts <functions/... module> '<payload JSON>'
 * The environment (endpoints, table, policy) is the parent's.
 */
import { localContext } from '../../scripts/local-aws/event-source-mapping.js';

const [module, payload] = process.argv.slice(2);
const { handler } = (await import(`../../${module}`)) as { handler: (event: unknown, context: unknown) => Promise<unknown> };
const result = await handler(JSON.parse(payload ?? '{}'), localContext(module!));
process.stdout.write(JSON.stringify(result));
