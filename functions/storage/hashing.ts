import { createHash } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';

/** Hex SHA-256 of everything a stream yields. */
export async function sha256Of(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Uint8Array);
  return hash.digest('hex');
}

/**
 * Passes a source stream through while hashing it, for bytes on their way to the replica.
 * `digest()` (after the stream was consumed) fails when fewer or more than `expectedBytes` came.
 */
export function hashingThrough(source: Readable, expectedBytes: number, what: string) {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  source.once('error', (error) => stream.destroy(error));
  source.pipe(stream);
  return {
    stream,
    digest(): string {
      if (bytes !== expectedBytes) throw new Error(`${what}: read ${bytes} bytes of the source, expected ${expectedBytes}`);
      return hash.digest('hex');
    },
  };
}
