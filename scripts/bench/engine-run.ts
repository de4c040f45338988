/**
 * One run of this project's replication engine for bench:replication, in a process of its own
 * (so its peak RSS is its own): `concurrency` pollers consume the replication queue the way
 * Lambda's event source mapping would (batches of 10, one handler invocation per batch), until
 * the queue is empty (drain) or until `expect` versions are replicated (follow).
 * Environment: the local AWS's, LEDGER_TABLE, DR_POLICY_FILE. Prints one JSON line (with the CPU
 * seconds the process used over the same span).
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { pollOnce } from '../local-aws/event-source-mapping.js';

const arg = (name: string, fallback?: string) => {
  const i = process.argv.indexOf(`--${name}`);
  const value = i > 0 ? process.argv[i + 1] : fallback;
  if (value === undefined) throw new Error(`--${name} is required`);
  return value;
};
const queue = { url: arg('queue-url'), arn: arg('queue-arn'), region: arg('region') };
const concurrency = Number(arg('concurrency', '8'));
const expect = Number(arg('expect', '0'));
const timeoutMs = Number(arg('timeout-ms', '600000'));

async function main() {
  const { handler } = await import('../../functions/replicate.js');
  const sqs = new SQSClient({ region: queue.region });
  process.stderr.write('engine ready\n'); // the cold start is over; the driver may start writing
  let succeeded = 0;
  let failed = 0;
  const started = performance.now();
  const cpuAtStart = process.cpuUsage();
  const deadline = Date.now() + timeoutMs;
  const poller = async () => {
    let idle = 0;
    while (Date.now() < deadline) {
      const result = await pollOnce(sqs, queue, handler, 10);
      succeeded += result.succeeded;
      failed += result.failed;
      if (result.received > 0) idle = 0;
      else if (expect === 0 && ++idle >= 2)
        return; // drained
      else if (expect > 0 && succeeded >= expect) return;
      else if (result.received === 0) await new Promise((r) => setTimeout(r, 20));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, poller));
  const cpu = process.cpuUsage(cpuAtStart);
  console.log(JSON.stringify({ messages: succeeded, failed, ms: performance.now() - started, cpuSeconds: (cpu.user + cpu.system) / 1e6 }));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
