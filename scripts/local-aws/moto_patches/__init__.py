"""Patches that close gaps of moto 5.2.5 (the version pinned in requirements-dev.txt), one module per
service. Importing the package applies them all; each gap's note sits next to its patch.

Gaps, by number (the tests and docs name them so):
  s3.py         1 LastModified in milliseconds, 2 delete-marker events to EventBridge,
                4 and 5 ListObjectVersions after a key marker, without copying the bucket,
                11 ranged reads read the range, 12 aws-chunked bodies joined once,
                15 part checksums of uploads created with a checksum algorithm; Object Lock:
                19 CopyObject locks the copy, 20 a multipart upload locks its object,
                21 PutObjectRetention shortens or changes a retention only as S3 allows,
                22 no suspended versioning (409 InvalidBucketState), 23 DeleteObject bypasses
                governance for "true" only, 24 the lock configuration of a bucket in use;
                25 requests naming an expected bucket owner refused for another account's bucket
  events.py     3 the "account" field of events forwarded to another region
  s3vectors.py  6 CreateIndex conflict, 7 ListVectors paging, 8 QueryVectors
  sqs.py        9 retention check without counting the queue, 13 atomic receives,
                18 a receive takes what it returns without listing the queue
  dynamodb.py   10 a table Query reads one partition, 14 one write at a time,
                16 an UpdateItem's expression parsed once and validated in linear time
  core.py       17 the server's list of services read once
"""
from . import core, dynamodb, events, s3, s3vectors, sqs  # noqa: F401  (imported for their patches)
