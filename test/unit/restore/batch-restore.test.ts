import { CreateJobCommand, DescribeJobCommand, S3ControlClient } from '@aws-sdk/client-s3-control';
import { mockClient } from 'aws-sdk-client-mock';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  CsvReader,
  csvRows,
  FAILURES_KEPT,
  type JobFiles,
  ManifestPiece,
  newManifest,
  parseCsv,
  taskResults,
  writeManifest,
} from '../../../functions/restore/batch-restore.js';
import { S3ControlBatchJobs } from '../../../functions/restore/s3-control-batch-jobs.js';

/** Job files in memory; a stream comes in pieces of `piece` bytes; `wholeReads` lists the files read whole. */
function memoryFiles(piece = 7): JobFiles & { stored: Map<string, Buffer>; wholeReads: string[] } {
  const stored = new Map<string, Buffer>();
  const wholeReads: string[] = [];
  async function* pieces(body: Buffer) {
    for (let at = 0; at < body.length; at += piece) yield body.subarray(at, at + piece);
  }
  return {
    bucket: 'dr-replica',
    stored,
    wholeReads,
    put: async (key, body) => (stored.set(key, body), 'etag-1'),
    get: async (key) => (wholeReads.push(key), stored.get(key)),
    stream: async (key) => (stored.has(key) ? pieces(stored.get(key)!) : undefined),
  };
}

describe('batch restore manifests', () => {
  it("writes each invocation's versions as one gzip'd CSV file, keys URL-encoded, and manifest.json in S3 Inventory's format", async () => {
    const files = memoryFiles();
    const first = new ManifestPiece('dr-replica', newManifest());
    first.add('dr/train/cat photo+1.jpg', 'v1');
    first.add('dr/train/100%, "quoted"\n.txt', 'v2');
    const afterFirst = await first.write(files);
    const second = new ManifestPiece('dr-replica', afterFirst);
    second.add('dr/train/ünïcode ß', 'v3');
    const progress = await second.write(files);
    expect(await new ManifestPiece('dr-replica', progress).write(files)).toBe(progress); // nothing collected: no file
    expect(progress).toMatchObject({
      versions: 3,
      files: [
        { key: expect.stringMatching(/manifest\/part-00000-[0-9a-f]{8}\.csv\.gz$/) },
        { key: expect.stringMatching(/part-00001-[0-9a-f]{8}\.csv\.gz$/) },
      ],
    });

    const rows = progress.files.flatMap((f) => parseCsv(gunzipSync(files.stored.get(f.key)!).toString('utf8')));
    expect(rows).toEqual([
      ['dr-replica', 'dr%2Ftrain%2Fcat%20photo%2B1.jpg', 'v1'],
      ['dr-replica', 'dr%2Ftrain%2F100%25%2C%20%22quoted%22%0A.txt', 'v2'],
      ['dr-replica', 'dr%2Ftrain%2F%C3%BCn%C3%AFcode%20%C3%9F', 'v3'],
    ]);
    const { key, etag } = await writeManifest(files, progress, 'dr-replica', new Date('2026-11-26T12:00:00Z'));
    expect(etag).toBe('etag-1');
    expect(JSON.parse(files.stored.get(key)!.toString())).toEqual({
      sourceBucket: 'dr-replica',
      destinationBucket: 'arn:aws:s3:::dr-replica',
      version: '2016-11-30',
      creationTimestamp: String(Date.parse('2026-11-26T12:00:00Z')),
      fileFormat: 'CSV',
      fileSchema: 'Bucket, Key, VersionId',
      files: progress.files,
    });
  });

  it('reads RFC 4180 CSV: quoted fields, doubled quotes, commas and newlines inside quotes, CRLF', () => {
    expect(parseCsv('a,"b,c","say ""hi""",\r\n"multi\nline",x\n')).toEqual([
      ['a', 'b,c', 'say "hi"', ''],
      ['multi\nline', 'x'],
    ]);
  });

  it('reads CSV in pieces that end anywhere (in a field, between CR and LF, between doubled quotes, inside a character) as it reads it whole', async () => {
    const text = 'a,"b,c","say ""hi""",\r\n"multi\r\nline","ß😀"\r\n"",""""\rlast,"unended\n';
    const whole = parseCsv(text);
    expect(whole).toEqual([
      ['a', 'b,c', 'say "hi"', ''],
      ['multi\r\nline', 'ß😀'],
      ['', '"'],
      ['last', 'unended\n'],
    ]);
    for (let cut = 0; cut <= text.length; cut++) {
      const reader = new CsvReader();
      expect([...reader.push(text.slice(0, cut)), ...reader.push(text.slice(cut)), ...reader.end()], `cut at ${cut}`).toEqual(whole);
    }
    const bytes = Buffer.from(text);
    for (const size of [1, 2, 3, 5]) {
      const rows = [];
      for await (const row of csvRows(
        (async function* () {
          for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
        })(),
      ))
        rows.push(row);
      expect(rows, `${size}-byte pieces`).toEqual(whole);
    }
  });

  it('counts a completion report as it streams in, keeping the first 50 failed tasks of any number', async () => {
    const files = memoryFiles(64);
    const row = (key: string, status: string, code: string, http: string, message: string) =>
      ['dr-replica', encodeURIComponent(key), `v-${key}`, status, code, http, message].map((f) => `"${f.replaceAll('"', '""')}"`).join(',');
    const first = [
      row('dr/a b.txt', 'succeeded', '200', '', 'restored 10 bytes to s3://t/a, SHA-256 verified'),
      row('dr/c', 'succeeded', '200', '', 'skipped unchanged: dr/c'),
    ];
    const second = Array.from({ length: 120 }, (_, n) => row(`dr/bad, "${n}"`, 'failed', 'PermanentFailure', '500', `no ${n}`));
    second.push(
      row('dr/d', 'succeeded', '200', '', 'restored 5 bytes to s3://t/d, SHA-256 verified'),
      row('dr/e', 'succeeded', '200', '', 'something else'),
    );
    files.stored.set('r/job-1/results/1.csv', Buffer.from(`${first.join('\n')}\n`));
    files.stored.set('r/job-1/results/2.csv', Buffer.from(`${second.join('\r\n')}\r\n`));
    files.stored.set(
      'r/job-1/manifest.json',
      Buffer.from(JSON.stringify({ Results: [1, 2].map((n) => ({ TaskExecutionStatus: 'x', Key: `r/job-1/results/${n}.csv` })) })),
    );

    const counted = await taskResults(files, 'r', '1');
    expect(files.wholeReads).toEqual(['r/job-1/manifest.json']); // the result files streamed, not read whole
    expect({ ...counted, failed: { ...counted.failed, first: counted.failed.first.length } }).toEqual({
      restored: { objects: 2, bytes: 15 },
      skipped: { unchanged: 1 },
      failed: { count: 121, first: FAILURES_KEPT },
    });
    expect(counted.failed.first.slice(0, 2)).toEqual([
      { key: 'dr/bad, "0"', versionId: 'v-dr/bad, "0"', error: 'PermanentFailure 500 no 0' },
      { key: 'dr/bad, "1"', versionId: 'v-dr/bad, "1"', error: 'PermanentFailure 500 no 1' },
    ]);

    files.stored.delete('r/job-1/results/2.csv');
    await expect(taskResults(files, 'r', '1')).rejects.toThrow('a result file of job 1 is missing (s3://dr-replica/r/job-1/results/2.csv)');
    await expect(taskResults(files, 'r', '2')).rejects.toThrow(
      'the completion report of job 2 is missing (s3://dr-replica/r/job-2/manifest.json)',
    );
  });
});

describe('S3 Control jobs', () => {
  it('creates a LambdaInvoke job (schema 2.0) over an inventory-format manifest, with a report of failed tasks, and reads its progress', async () => {
    const control = mockClient(S3ControlClient);
    control.on(CreateJobCommand).resolves({ JobId: 'job-1' });
    control.on(DescribeJobCommand).resolves({
      Job: {
        Status: 'Failed',
        ProgressSummary: { TotalNumberOfTasks: 10, NumberOfTasksSucceeded: 7, NumberOfTasksFailed: 3 },
        FailureReasons: [{ FailureCode: 'TasksFailed', FailureReason: 'the failure threshold was exceeded' }],
      },
    });
    const jobs = new S3ControlBatchJobs(new S3ControlClient({ region: 'us-west-2' }), '123456789012');
    const id = await jobs.create({
      clientRequestToken: 'a'.repeat(32),
      description: 'restore',
      manifest: { bucket: 'dr-replica', key: 'restore-jobs/m/manifest.json', etag: 'e1' },
      functionArn: 'arn:aws:lambda:us-west-2:123456789012:function:restore-data',
      roleArn: 'arn:aws:iam::123456789012:role/batch-restore',
      userArguments: { restoreId: 'a'.repeat(32) },
      report: { bucket: 'dr-replica', prefix: 'restore-jobs/m/report' },
    });
    expect(id).toBe('job-1');
    expect(control.commandCalls(CreateJobCommand)[0]!.args[0].input).toEqual({
      AccountId: '123456789012',
      ConfirmationRequired: false,
      ClientRequestToken: 'a'.repeat(32),
      Description: 'restore',
      Priority: 10,
      RoleArn: 'arn:aws:iam::123456789012:role/batch-restore',
      Operation: {
        LambdaInvoke: {
          FunctionArn: 'arn:aws:lambda:us-west-2:123456789012:function:restore-data',
          InvocationSchemaVersion: '2.0',
          UserArguments: { restoreId: 'a'.repeat(32) },
        },
      },
      Manifest: {
        Spec: { Format: 'S3InventoryReport_CSV_20161130' },
        Location: { ObjectArn: 'arn:aws:s3:::dr-replica/restore-jobs/m/manifest.json', ETag: 'e1' },
      },
      Report: {
        Bucket: 'arn:aws:s3:::dr-replica',
        Prefix: 'restore-jobs/m/report',
        Format: 'Report_CSV_20180820',
        Enabled: true,
        ReportScope: 'AllTasks',
      },
    });
    expect(await jobs.describe('job-1')).toEqual({
      status: 'Failed',
      total: 10,
      succeeded: 7,
      failed: 3,
      failureReasons: ['TasksFailed: the failure threshold was exceeded'],
    });
  });
});
