import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3VersionedStore } from '../../functions/storage/s3-versioned-store.js';

/**
 * The real SDK against an HTTP server answering ListObjectVersions the way S3 does: versions and
 * delete markers interleaved newest first, whole-second LastModified, keys URL-encoded. (The local
 * AWS lists differently, so this is where the raw-XML ordering and key decoding are exercised.)
 */
const SAME_SECOND = '2026-11-26T12:00:00.000Z';
const entry = (tag: 'Version' | 'DeleteMarker', key: string, id: string, latest: boolean) =>
  `<${tag}><Key>${key}</Key><VersionId>${id}</VersionId><IsLatest>${latest}</IsLatest><LastModified>${SAME_SECOND}</LastModified>` +
  (tag === 'Version' ? '<ETag>"x"</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass>' : '') +
  `<Owner><ID>o</ID></Owner></${tag}>`;

let server: Server;
let requests: URL[];
beforeAll(async () => {
  requests = [];
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://local');
    requests.push(url);
    const page1 = url.searchParams.get('key-marker') === null;
    // The key "a b\r+c" (CR and plus): S3 encodes it, spaces as '+'.
    const key = 'train/a+b%0D%2Bc';
    const body = page1
      ? `<ListVersionsResult><Name>b</Name><Prefix>x</Prefix><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>` +
        `<NextKeyMarker>${key}</NextKeyMarker><NextVersionIdMarker>put2</NextVersionIdMarker>` +
        entry('DeleteMarker', key, 'del2', true) +
        entry('Version', key, 'put2', false) +
        `</ListVersionsResult>`
      : `<ListVersionsResult><Name>b</Name><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>` +
        entry('DeleteMarker', key, 'del1', false) +
        entry('Version', key, 'put1', false) +
        entry('Version', 'train/a+b%0D%2Bcz', 'other', true) +
        `</ListVersionsResult>`;
    res.writeHead(200, { 'content-type': 'application/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?>${body}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('S3VersionedStore.listVersions on the wire', () => {
  it('orders same-second versions and delete markers as S3 listed them, and decodes URL-encoded keys', async () => {
    const { port } = server.address() as AddressInfo;
    const s3 = new S3Client({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    const versions = await new S3VersionedStore(s3).listVersions('b', 'train/a b\r+c');
    expect(versions.map((v) => `${v.kind}:${v.versionId}`)).toEqual([
      'object:put1',
      'delete-marker:del1',
      'object:put2',
      'delete-marker:del2',
    ]);
    expect(requests[0]!.searchParams.get('encoding-type')).toBe('url');
    expect(requests[0]!.searchParams.get('prefix')).toBe('train/a b\r+c');
    expect(requests[1]!.searchParams.get('key-marker')).toBe('train/a b\r+c');
  });
});
