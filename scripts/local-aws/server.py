"""The local AWS: moto in server mode, with two gaps of moto closed so it behaves like S3 here.

Gap 1 (moto 5.2.5): ListObjectVersions renders LastModified with whole seconds and puts all
Version elements before all DeleteMarker elements, so the order of a version and a delete marker
written in the same second is lost. Real S3 also lists whole seconds but interleaves the XML in
true order (the replicator reads that order). Here LastModified carries milliseconds instead.

Gap 2 (moto 5.2.5): a DeleteObject on a versioned bucket creates a delete marker but sends no
"Object Deleted" event to EventBridge. Real S3 sends one with deletion-type "Delete Marker Created".

Gap 3 (moto 5.2.5): an event forwarded to another region's bus reaches its SQS targets without
the "account" field every EventBridge event carries. It is filled in with the rule's account.

Gap 4 (moto 5.2.5): ListObjectVersions with a KeyMarker and no VersionIdMarker drops the first
version after the marker (or keeps later versions of the marker key). S3 lists the keys after the
marker key; reconcile resumes from a checkpoint that way.

Gap 5 (moto 5.2.5): ListObjectVersions deep-copies every version of every key in the bucket,
object data included, on each call, whatever the prefix: a bucket of a few GB then costs GBs of
memory and seconds per listing. Here only the keys under the prefix are listed, as views that share
the stored content (copy.copy of a FakeKey would copy its content too).

Gap 9 (moto 5.2.5): ReceiveMessage checks each message's retention by computing all of the queue's
attributes, approximate counts included, each of which walks every message: one receive costs
O(messages^2), so a queue of a few thousand messages serves seconds per receive. Here the check
reads the retention period alone, as SQS would.

Gap 10 (moto 5.2.5): a Query on a table's partition key gathers and sorts every item of the table
before it picks the partition's: its cost grows with the table, so a ledger of a few thousand keys
serves each Query in tens of milliseconds. DynamoDB reads the one partition. Here a table Query
reads only the items under its partition key (index queries are left as they are).

Gap 11 (moto 5.2.5): a GetObject with a Range, and an UploadPartCopy with a CopySourceRange, read
the whole object and then slice it, so each part of a copied, streamed or verified large object
costs a read of all of it (a 1 GiB object in 128 MiB parts reads 8 GiB). S3 reads the range. Here
a GetObject with one plain byte range ("bytes=a-b" or "bytes=a-", no partNumber) and a ranged part
copy read only those bytes; anything else is served as moto serves it.

Gap 12 (moto 5.2.5): a request body in aws-chunked encoding (what the SDK sends when it streams a
body with a trailing checksum, e.g. UploadPart of a stream) is decoded by appending each chunk to
an immutable bytes object: quadratic in the number of chunks, so a 128 MiB part in 64 KiB chunks
copies about 128 GiB. Here the chunks are joined once.

Gap 13 (moto 5.2.5): ReceiveMessage is not atomic: two concurrent receivers can both take the
same visible message before either marks it in flight, so one message runs twice at once (SQS
delivers at least once, but such duplicates are rare, not routine under load). Here receives are
serialized; a long poll waits outside the lock.

The server does not log each request (werkzeug's access log): at thousands of requests per second
the log costs the server a noticeable share of its one Python core, for every client alike.

Usage: python server.py --port N   (binds 127.0.0.1 only)
"""
import copy
import io
import logging
import sys
import threading

import moto.events.models as events_models
import moto.sqs.models as sqs_models
import moto.s3.models as s3_models
from moto.core.serialize import TimestampSerializer
from moto.core.utils import unix_time
from moto.server import main


def _iso_with_millis(value):
    if not value:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


s3_models.iso_8601_datetime_without_milliseconds_s3 = _iso_with_millis
TimestampSerializer._timestamp_iso8601_zeroed = lambda self, value: _iso_with_millis(value)

_original_set_delete_marker = s3_models.S3Backend._set_delete_marker


def _set_delete_marker_and_notify(self, bucket_name, key_name):
    marker = _original_set_delete_marker(self, bucket_name, key_name)
    bucket = self.get_bucket(bucket_name)
    config = bucket.notification_configuration
    if config is not None and config.event_bridge is not None:
        try:
            from moto.events.models import events_backends
            from moto.events.utils import _BASE_EVENT_MESSAGE

            event = copy.deepcopy(_BASE_EVENT_MESSAGE)
            event.update(
                {
                    "detail-type": "Object Deleted",
                    "source": "aws.s3",
                    "account": self.account_id,
                    "time": unix_time(),
                    "region": bucket.region_name,
                    "resources": [bucket.arn],
                    "detail": {
                        "version": "0",
                        "bucket": {"name": bucket.name},
                        "object": {
                            "key": key_name,
                            "version-id": marker.version_id,
                            "sequencer": "617f08299329d18a",
                        },
                        "request-id": "N4N7GDK58NMKJ12R",
                        "requester": self.account_id,
                        "source-ip-address": "127.0.0.1",
                        "reason": "DeleteObject",
                        "deletion-type": "Delete Marker Created",
                    },
                }
            )
            backend = events_backends[self.account_id][bucket.region_name]
            for bus in backend.event_buses.values():
                for rule in bus.rules.values():
                    rule.send_to_targets(event, transform_input=False)
        except Exception as error:  # an async side effect in AWS: never fail the delete
            print(f"local-aws: delete event not sent: {error}", file=sys.stderr)
    return marker


s3_models.S3Backend._set_delete_marker = _set_delete_marker_and_notify

_original_send_to_sqs_queue = events_models.Rule._send_to_sqs_queue


def _send_to_sqs_queue_with_account(self, resource_id, event, group_id=None):
    if isinstance(event, dict):
        event.setdefault("account", self.account_id)
    return _original_send_to_sqs_queue(self, resource_id, event, group_id)


events_models.Rule._send_to_sqs_queue = _send_to_sqs_queue_with_account

_original_list_object_versions = s3_models.S3Backend.list_object_versions


_views = {}


def _view_of(version):
    """The version's attributes in an object of its own, sharing its stored content. Not copy.copy:
    a FakeKey pickles its whole content to copy itself; and a view must not close the shared
    content when it is collected (FakeKey.__del__ disposes of its buffer)."""
    kind = type(version)
    if kind not in _views:
        _views[kind] = type(f"{kind.__name__}View", (kind,), {"__del__": lambda self: None})
    view = object.__new__(_views[kind])
    view.__dict__.update(version.__dict__)
    return view


def _list_object_versions_after_key(
    self, bucket_name, delimiter=None, key_marker=None, max_keys=1000, prefix="", version_id_marker=None
):
    if delimiter:
        return _original_list_object_versions(
            self, bucket_name, delimiter, key_marker, max_keys, prefix, version_id_marker
        )
    bucket = self.get_bucket(bucket_name)
    prefix = prefix or ""
    listed = []
    for name, versions in bucket.keys.iterlists():
        if not name.startswith(prefix):
            continue
        newest_first = sorted(versions, key=lambda v: -v.last_modified.timestamp())
        for i, version in enumerate(newest_first):
            entry = _view_of(version)
            entry.is_latest = i == 0
            listed.append(entry)
    # Python compares by code point, which is the UTF-8 byte order S3 lists in.
    listed.sort(key=lambda v: (v.name, -v.last_modified.timestamp()))
    if key_marker and version_id_marker:
        after = next(
            (i for i, v in enumerate(listed) if v.name == key_marker and str(v.version_id) == version_id_marker),
            None,
        )
        listed = listed[after + 1 :] if after is not None else [v for v in listed if v.name > key_marker]
    elif key_marker:
        listed = [v for v in listed if v.name > key_marker]
    next_key = next_version = None
    if max_keys is not None and len(listed) > max_keys:
        listed = listed[:max_keys]
        next_key, next_version = listed[-1].name, listed[-1].version_id
    return (
        [v for v in listed if isinstance(v, s3_models.FakeKey)],
        [],
        [v for v in listed if not isinstance(v, s3_models.FakeKey)],
        next_key,
        next_version,
    )


s3_models.S3Backend.list_object_versions = _list_object_versions_after_key

# --- S3 Vectors gaps (moto 5.2.5), closed for the S3 Vectors VectorStore adapter ----------------
#
# Gap 6: CreateIndex with the name of an existing index silently replaces it (its vectors are lost).
# S3 Vectors answers ConflictException.
#
# Gap 7: ListVectors ignores maxResults and nextToken and returns every vector in one page. S3
# Vectors pages (maxResults 1..1000, default 500) with an opaque nextToken. Here the vectors are
# listed in key order and the token carries the last key listed, so a key written during a listing
# is either in a later page or not at all (never twice). Parallel segments (segmentCount,
# segmentIndex) stay unimplemented and are refused rather than ignored.
#
# Gap 8: QueryVectors is missing (the request answers 404). Here it is an exact brute-force search
# over the index with its distance metric (cosine: 1 - cosine similarity; euclidean: L2 distance),
# nearest first. S3 Vectors itself is approximate. Metadata filters are refused rather than ignored.
import base64
import math

import moto.s3vectors.models as s3vectors_models
import moto.s3vectors.responses as s3vectors_responses
import moto.s3vectors.urls as s3vectors_urls
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult


class _IndexAlreadyExists(ServiceException):
    code = "ConflictException"

    def __init__(self) -> None:
        super().__init__("An index with the specified name already exists")


_original_create_index = s3vectors_models.S3VectorsBackend.create_index


def _create_index_once(self, vector_bucket_name, vector_bucket_arn, index_name, *args, **kwargs):
    bucket = self.get_vector_bucket(vector_bucket_name=vector_bucket_name, vector_bucket_arn=vector_bucket_arn)
    if any(index.index_name == index_name for index in bucket.indexes.values()):
        raise _IndexAlreadyExists()
    return _original_create_index(self, vector_bucket_name, vector_bucket_arn, index_name, *args, **kwargs)


s3vectors_models.S3VectorsBackend.create_index = _create_index_once


def _vector_result(vector, return_data, return_metadata, **extra):
    return {
        "key": vector.key,
        "data": vector.data if return_data else None,
        "metadata": vector.metadata if return_metadata else None,
        **extra,
    }


def _list_vectors_paged(self):
    if self._get_param("segmentCount") is not None:
        raise s3vectors_responses.ValidationError("segmentCount is not supported by the local S3 Vectors")
    index = self.s3vectors_backend.get_index(
        self._get_param("vectorBucketName"), self._get_param("indexName"), self._get_param("indexArn")
    )
    max_results = self._get_param("maxResults") or 500
    if not 1 <= max_results <= 1000:
        raise s3vectors_responses.ValidationError("maxResults must be between 1 and 1000")
    token = self._get_param("nextToken")
    after = base64.urlsafe_b64decode(token.encode()).decode() if token else None
    keys = sorted(key for key in index.vectors if after is None or key > after)
    page = keys[:max_results]
    return_data = self._get_bool_param("returnData", False)
    return_metadata = self._get_bool_param("returnMetadata", False)
    result = {"vectors": [_vector_result(index.vectors[key], return_data, return_metadata) for key in page]}
    if len(keys) > max_results:
        result["nextToken"] = base64.urlsafe_b64encode(page[-1].encode()).decode()
    return ActionResult(result)


def _distance(metric, a, b):
    if metric == "euclidean":
        return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return 1.0 - (sum(x * y for x, y in zip(a, b)) / norms if norms else 0.0)


def _query_vectors(self):
    if self._get_param("filter") is not None:
        raise s3vectors_responses.ValidationError("filter is not supported by the local S3 Vectors")
    index = self.s3vectors_backend.get_index(
        self._get_param("vectorBucketName"), self._get_param("indexName"), self._get_param("indexArn")
    )
    query = (self._get_param("queryVector") or {}).get("float32") or []
    if len(query) != index.dimension:
        raise s3vectors_responses.ValidationError(
            f"Query vector must have length {index.dimension}, but has length {len(query)}"
        )
    top_k = self._get_param("topK")
    scored = sorted(
        ((_distance(index.distance_metric, query, v.data["float32"]), v) for v in index.vectors.values()),
        key=lambda pair: (pair[0], pair[1].key),
    )[:top_k]
    return_distance = self._get_bool_param("returnDistance", False)
    return_metadata = self._get_bool_param("returnMetadata", False)
    vectors = [
        _vector_result(v, False, return_metadata, **({"distance": d} if return_distance else {})) for d, v in scored
    ]
    return ActionResult({"vectors": vectors, "distanceMetric": index.distance_metric})


s3vectors_responses.S3VectorsResponse.list_vectors = _list_vectors_paged
s3vectors_responses.S3VectorsResponse.query_vectors = _query_vectors
s3vectors_urls.url_paths["{0}/QueryVectors$"] = s3vectors_responses.S3VectorsResponse.dispatch



def _retained(self, queue_name, message):
    retention_period = int(self.get_queue(queue_name).message_retention_period)
    return retention_period + message.sent_timestamp / 1000 > unix_time()


sqs_models.SQSBackend.is_message_valid_based_on_retention_period = _retained

_receive_lock = threading.RLock()
_original_receive_message = sqs_models.SQSBackend.receive_message


def _receive_message_atomically(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names=None):
    deadline = unix_time() + (wait_seconds_timeout or 0)
    while True:
        with _receive_lock:
            result = _original_receive_message(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
        if result or unix_time() >= deadline:
            return result
        self.get_queue(queue_name).wait_for_messages(1)


sqs_models.SQSBackend.receive_message = _receive_message_atomically


import moto.dynamodb.models.table as dynamodb_table

_one_partition = threading.local()
_original_table_query = dynamodb_table.Table.query
_original_all_items = dynamodb_table.Table.all_items


def _query_one_partition(self, hash_key, *args, **kwargs):
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name or hash_key is None:
        return _original_table_query(self, hash_key, *args, **kwargs)
    _one_partition.scope = (self, hash_key)
    try:
        return _original_table_query(self, hash_key, *args, **kwargs)
    finally:
        _one_partition.scope = None


def _items_in_scope(self):
    scope = getattr(_one_partition, "scope", None)
    if scope is None or scope[0] is not self:
        return _original_all_items(self)
    partition = self.items.get(scope[1])
    if partition is None:
        return []
    return list(partition.values()) if self.range_key_attr else [partition]


dynamodb_table.Table.query = _query_one_partition
dynamodb_table.Table.all_items = _items_in_scope


import re

import moto.s3.responses as s3_responses

_ranged_get = threading.local()
_PLAIN_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
_original_key_value = s3_models.FakeKey.value


class _RangeReader:
    """A key's content as moto's range handling uses it (len and one slice), read on demand."""

    def __init__(self, key):
        self._key = key

    def __len__(self):
        return self._key.size

    def __getitem__(self, part):
        start, stop, _ = part.indices(self._key.size)
        with self._key.lock:
            self._key._value_buffer.seek(start)
            return self._key._value_buffer.read(max(0, stop - start))


def _key_value(self):
    if getattr(_ranged_get, "active", False):
        return _RangeReader(self)
    return _original_key_value.fget(self)


_original_get_object = s3_responses.S3Response.get_object


def _reading_ranges(call, *args, **kwargs):
    _ranged_get.active = True
    try:
        return call(*args, **kwargs)
    finally:
        _ranged_get.active = False


def _get_object_reading_the_range(self):
    match = _PLAIN_RANGE.match(self.headers.get("range") or "")
    # Only ranges that moto answers with a slice (206): begin <= end, and no partNumber (whose answer
    # is the value itself); anything else takes moto's path.
    if not match or (match.group(2) and int(match.group(1)) > int(match.group(2))) or "partNumber" in self.querystring:
        return _original_get_object(self)
    return _reading_ranges(_original_get_object, self)


_original_upload_part_copy = s3_models.S3Backend.upload_part_copy


def _upload_part_copy_reading_the_range(self, *args, **kwargs):
    start_byte = args[6] if len(args) > 6 else kwargs.get("start_byte")
    if start_byte is None:
        return _original_upload_part_copy(self, *args, **kwargs)
    return _reading_ranges(_original_upload_part_copy, self, *args, **kwargs)


def _decode_chunked_body(self, body):
    if not body:
        return b""
    if isinstance(body, bytes):
        body = io.BytesIO(body)
    chunks = []
    # "<hex length>\r\n<data>\r\n" repeated, then a zero-length chunk and the trailer (ignored).
    length = int(body.readline().strip(), 16)
    while length > 0:
        chunks.append(body.read(length))
        body.readline()
        length = int(body.readline().strip(), 16)
    return b"".join(chunks)


s3_models.FakeKey.value = property(_key_value, _original_key_value.fset)
s3_responses.S3Response._handle_encoded_body = _decode_chunked_body
s3_responses.S3Response.get_object = _get_object_reading_the_range
s3_models.S3Backend.upload_part_copy = _upload_part_copy_reading_the_range

logging.getLogger("werkzeug").setLevel(logging.WARNING)

if __name__ == "__main__":
    main(["-H", "127.0.0.1", *sys.argv[1:]])
