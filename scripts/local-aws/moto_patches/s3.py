"""S3 gaps of moto 5.2.5: 1, 2, 4, 5, 11, 12 and 15."""
import copy
import io
import re
import sys
import threading

import moto.s3.models as s3_models
import moto.s3.responses as s3_responses
import moto.s3.utils as s3_utils
from moto.core.serialize import TimestampSerializer
from moto.core.utils import unix_time

from ._patching import Parameters, replace

# Gap 1: ListObjectVersions renders LastModified with whole seconds and puts all Version elements
# before all DeleteMarker elements, so the order of a version and a delete marker written in the same
# second is lost. Real S3 also lists whole seconds but interleaves the XML in true order (the
# replicator reads that order). Here LastModified carries milliseconds instead.


def _iso_with_millis(value):
    if not value:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


replace(s3_models, "iso_8601_datetime_without_milliseconds_s3", _iso_with_millis, same_parameters=True)
replace(
    TimestampSerializer, "_timestamp_iso8601_zeroed", lambda self, value: _iso_with_millis(value), same_parameters=True
)

# Gap 2: a DeleteObject on a versioned bucket creates a delete marker but sends no "Object Deleted"
# event to EventBridge. Real S3 sends one with deletion-type "Delete Marker Created".

_original_set_delete_marker = s3_models.S3Backend._set_delete_marker
_SET_DELETE_MARKER = Parameters(_original_set_delete_marker, "bucket_name", "key_name")


def _set_delete_marker_and_notify(self, *args, **kwargs):
    marker = _original_set_delete_marker(self, *args, **kwargs)
    call = _SET_DELETE_MARKER.bind(self, *args, **kwargs).arguments
    bucket_name, key_name = call["bucket_name"], call["key_name"]
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


replace(s3_models.S3Backend, "_set_delete_marker", _set_delete_marker_and_notify)

# Gap 4: ListObjectVersions with a KeyMarker and no VersionIdMarker drops the first version after the
# marker (or keeps later versions of the marker key). S3 lists the keys after the marker key;
# reconcile resumes from a checkpoint that way.
#
# Gap 5: ListObjectVersions deep-copies every version of every key in the bucket, object data
# included, on each call, whatever the prefix: a bucket of a few GB then costs GBs of memory and
# seconds per listing. Here only the keys under the prefix are listed, as views that share the
# stored content (copy.copy of a FakeKey would copy its content too).
#
# One replacement closes both (listings with a delimiter are left to moto).

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
            self,
            bucket_name=bucket_name,
            delimiter=delimiter,
            key_marker=key_marker,
            max_keys=max_keys,
            prefix=prefix,
            version_id_marker=version_id_marker,
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


replace(s3_models.S3Backend, "list_object_versions", _list_object_versions_after_key, same_parameters=True)

# Gap 11: a GetObject with a Range, and an UploadPartCopy with a CopySourceRange, read the whole
# object and then slice it, so each part of a copied, streamed or verified large object costs a read
# of all of it (a 1 GiB object in 128 MiB parts reads 8 GiB). S3 reads the range. Here a GetObject
# with one plain byte range ("bytes=a-b" or "bytes=a-", no partNumber) and a ranged part copy read
# only those bytes; anything else is served as moto serves it.

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
_UPLOAD_PART_COPY = Parameters(_original_upload_part_copy, "start_byte")


def _upload_part_copy_reading_the_range(self, *args, **kwargs):
    if _UPLOAD_PART_COPY.bind(self, *args, **kwargs).arguments["start_byte"] is None:
        return _original_upload_part_copy(self, *args, **kwargs)
    return _reading_ranges(_original_upload_part_copy, self, *args, **kwargs)


replace(s3_models.FakeKey, "value", property(_key_value, _original_key_value.fset))
replace(s3_responses.S3Response, "get_object", _get_object_reading_the_range, same_parameters=True)
replace(s3_models.S3Backend, "upload_part_copy", _upload_part_copy_reading_the_range)

# Gap 12: a request body in aws-chunked encoding (what the SDK sends when it streams a body with a
# trailing checksum, e.g. UploadPart of a stream) is decoded by appending each chunk to an immutable
# bytes object: quadratic in the number of chunks, so a 128 MiB part in 64 KiB chunks copies about
# 128 GiB. Here the chunks are joined once.


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


replace(s3_responses.S3Response, "_handle_encoded_body", _decode_chunked_body, same_parameters=True)

# Gap 15: an upload created with a checksum algorithm (CreateMultipartUpload with ChecksumAlgorithm
# SHA256) keeps no checksum per part: UploadPartCopy's CopyPartResult has no ChecksumSHA256 and
# ListParts none per part, though moto computes the composite from the parts at completion. S3
# computes each part's checksum over the bytes the part holds and returns it with the part (for a
# part copy, over the copied range). Here a part of such an upload gets its checksum when it is
# written, and UploadPartCopy and ListParts return it.

_original_set_part = s3_models.FakeMultipart.set_part


def _set_part_with_checksum(self, part_id, value):
    part = _original_set_part(self, part_id, value)
    algorithm = self.metadata.get("x-amz-checksum-algorithm")
    if algorithm:
        part.checksum_algorithm = algorithm.upper()
        part.checksum_value = s3_utils.compute_checksum(bytes(value), algorithm.upper()).decode()
    return part


def _upload_of(response):
    return response.backend.get_bucket(response.bucket_name).multiparts.get(response._get_param("uploadId"))


def _checksum_element(part):
    if part is None or not part.checksum_value:
        return ""
    return f"<Checksum{part.checksum_algorithm}>{part.checksum_value}</Checksum{part.checksum_algorithm}>"


def _with_text(body, edit):
    return edit(body.decode()).encode() if isinstance(body, bytes) else edit(body)


def _length(body):
    """Content-Length in bytes (a key in the XML may be non-ASCII)."""
    return str(len(body.encode() if isinstance(body, str) else body))


_original_upload_part_copy_response = s3_responses.S3Response.upload_part_copy


def _upload_part_copy_returning_checksum(self):
    status, headers, body = _original_upload_part_copy_response(self)
    upload = _upload_of(self) if status == 200 else None
    element = _checksum_element(upload and upload.parts.get(self._get_int_param("partNumber")))
    if element:
        body = _with_text(body, lambda text: text.replace("</CopyPartResult>", f"{element}</CopyPartResult>", 1))
        headers["content-length"] = _length(body)
    return status, headers, body


_original_list_parts = s3_responses.S3Response.list_parts
_PART = re.compile(r"<Part>(.*?)</Part>", re.S)
_PART_NUMBER = re.compile(r"<PartNumber>(\d+)</PartNumber>")


def _list_parts_with_checksums(self):
    status, headers, body = _original_list_parts(self)
    upload = _upload_of(self) if status == 200 else None
    if upload is None:
        return status, headers, body

    def add_checksum(match):
        number = _PART_NUMBER.search(match.group(1))
        element = _checksum_element(number and upload.parts.get(int(number.group(1))))
        return f"<Part>{match.group(1)}{element}</Part>"

    body = _with_text(body, lambda text: _PART.sub(add_checksum, text))
    headers["content-length"] = _length(body)
    return status, headers, body


replace(s3_models.FakeMultipart, "set_part", _set_part_with_checksum, same_parameters=True)
replace(s3_responses.S3Response, "upload_part_copy", _upload_part_copy_returning_checksum, same_parameters=True)
replace(s3_responses.S3Response, "list_parts", _list_parts_with_checksums, same_parameters=True)
