import { mkdtemp } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, processCpuSeconds } from '../local-aws/server.js';
import { weaviateBin } from '../tools/weaviate.js';
import { startServerProcess } from './server-process.js';

/** A Weaviate server (built by scripts/tools/weaviate.ts) on free 127.0.0.1 ports, with filesystem backups. */
export interface WeaviateServer {
  url: string;
  /** CPU seconds (user + system) the server has used so far, for benchmarks. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/**
 * Weaviate's backup-s3 module pointed at an S3 endpoint (the local AWS): backups under `path` in
 * `bucket`, which must exist when a backup runs. The module's SDK takes host:port without a scheme
 * and reads the standard AWS credential variables.
 */
export interface WeaviateS3Backups {
  endpoint: string;
  bucket: string;
  path: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * Starts Weaviate as a single node bound to loopback: anonymous access, no vectorizer, its data and
 * backups in a fresh temporary directory (removed by stop()). A single node still runs its cluster
 * and Raft layers: it needs a hostname, an advertised 127.0.0.1 address (else it picks an IPv6 one
 * and exits), one bootstrap voter joining itself, and free ports for gossip, data, Raft, Raft RPC
 * and gRPC. Backups use the backup-filesystem module, and the backup-s3 module where `s3` is given.
 */
export async function startWeaviate(options: { s3?: WeaviateS3Backups } = {}): Promise<WeaviateServer> {
  const { s3 } = options;
  const [port, grpc, gossip, data, raft, raftRpc] = await Promise.all(Array.from({ length: 6 }, () => freePort()));
  const url = `http://127.0.0.1:${port}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'weaviate-'));
  const node = hostname().replace(/[^A-Za-z0-9-]/g, '-') || 'node1';
  const { child, stop } = await startServerProcess({
    name: 'weaviate',
    command: weaviateBin,
    args: ['--host', '127.0.0.1', '--port', String(port), '--scheme', 'http'],
    env: {
      ...process.env,
      AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED: 'true',
      PERSISTENCE_DATA_PATH: join(dataDir, 'data'),
      DEFAULT_VECTORIZER_MODULE: 'none',
      ENABLE_MODULES: s3 ? 'backup-filesystem,backup-s3' : 'backup-filesystem',
      BACKUP_FILESYSTEM_PATH: join(dataDir, 'backups'),
      ...(s3 && {
        BACKUP_S3_BUCKET: s3.bucket,
        BACKUP_S3_PATH: s3.path,
        BACKUP_S3_ENDPOINT: new URL(s3.endpoint).host,
        BACKUP_S3_USE_SSL: String(s3.endpoint.startsWith('https:')),
        AWS_REGION: s3.region,
        AWS_ACCESS_KEY_ID: s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      }),
      DISABLE_TELEMETRY: 'true',
      CLUSTER_HOSTNAME: node,
      CLUSTER_ADVERTISE_ADDR: '127.0.0.1',
      CLUSTER_GOSSIP_BIND_PORT: String(gossip),
      CLUSTER_DATA_BIND_PORT: String(data),
      RAFT_PORT: String(raft),
      RAFT_INTERNAL_RPC_PORT: String(raftRpc),
      RAFT_BOOTSTRAP_EXPECT: '1',
      RAFT_JOIN: `${node}:${raft}`,
      GRPC_PORT: String(grpc),
    },
    dataDir,
    endpoint: url,
    ready: async () => (await fetch(`${url}/v1/.well-known/ready`)).ok,
    timeoutMs: 60_000,
    killAfterMs: 10_000,
  });
  return { url, stop, cpuSeconds: () => processCpuSeconds(child.pid!) };
}
