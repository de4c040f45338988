"""S3 gaps of moto 5.2.5: 1, 2, 4, 5, 11, 12, 15, for Object Lock 19 to 24, 25 (expected bucket owners), 26 and 27 (checksums of a body), 28 (the cost of completing an upload)."""
import base64
import binascii
import copy
import datetime
import hashlib
import io
import re
import sys
import threading
import urllib.parse
from xml.parsers.expat import ExpatError

import moto.s3.exceptions as s3_exceptions
import moto.s3.models as s3_models
import moto.s3.responses as s3_responses
import moto.s3.utils as s3_utils
import xmltodict
from moto.core.responses import ActionResult
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


# Object Lock (gaps 19 to 24). The replicator writes each replica version with the lock its policy
# asks for (CopyObject, CreateMultipartUpload or PutObject with ObjectLockMode and
# ObjectLockRetainUntilDate), the vector snapshots extend their retention with PutObjectRetention,
# and a breach test proves that no one can delete a locked version, shorten its retention or suspend
# the bucket's versioning. Each of those is an S3 behaviour that moto lacks or gets wrong.


def _lock_requested(headers):
    """Whether a write asks for a lock of its own (S3 PutObject, CopyObject, CreateMultipartUpload)."""
    return bool(
        headers.get("x-amz-object-lock-mode")
        or headers.get("x-amz-object-lock-retain-until-date")
        or headers.get("x-amz-object-lock-legal-hold") == "ON"
    )


def _bypasses_governance(headers):
    """x-amz-bypass-governance-retention: true (S3 takes the header as a boolean: only "true" bypasses)."""
    return (headers.get("x-amz-bypass-governance-retention") or "").strip().lower() == "true"


# Gap 19: a CopyObject into an Object Lock bucket with ObjectLockMode and ObjectLockRetainUntilDate
# (or into a bucket with a default retention rule) is refused with
# MissingUploadObjectWithObjectLockHeaders: moto asks every PUT that would lock a version for a
# Content-MD5 or x-amz-sdk-checksum-algorithm header. S3 asks that of requests that upload a body
# (PutObject, UploadPart: "The Content-MD5 or x-amz-sdk-checksum-algorithm header is required for
# any request to upload an object with a retention period configured using Amazon S3 Object Lock");
# a CopyObject has no body, takes x-amz-object-lock-mode, -retain-until-date and -legal-hold
# (CopyObject in the S3 API reference) and its new version gets that lock, or the bucket's default
# retention. Here a copy skips the check and goes to moto's copy, which locks the new version so
# (moto's _get_lock_details); lock headers into a bucket without Object Lock are still refused
# (InvalidRequest), as moto refuses them for PutObject.

# Gap 26: PutObject with an x-amz-checksum-<algorithm> header keeps that value as the object's
# checksum without computing it ("TODO: AWS computes the provided value and verifies it's the same"
# in moto's _get_checksum), so a body that does not match is stored and later reported with the
# sender's value. S3 computes the checksum over the bytes it received and refuses a mismatch with
# 400 BadDigest (x-amz-sdk-checksum-algorithm in the S3 API reference: "Amazon S3 fails the request
# with a BadDigest error"); what HeadObject with x-amz-checksum-mode ENABLED returns is then S3's own
# value. Here a PutObject whose body is sent plain (not aws-chunked: the SDK sends a checksum it is
# given as a header) is checked for SHA256, SHA1, CRC32 and CRC64NVME; uploads of parts are not.

_CHECKED_DIGESTS = ("sha256", "sha1", "crc32", "crc64nvme")

# Gap 27: moto does not check SigV4 at all, so the payload hash a request was signed with
# (x-amz-content-sha256) is never compared with the body it carries. S3 refuses a mismatch with 400
# XAmzContentSHA256Mismatch. Here a plain PutObject body is checked against a hex value of that
# header (UNSIGNED-PAYLOAD and STREAMING-* values, and aws-chunked bodies, are not).
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


class XAmzContentSHA256Mismatch(s3_exceptions.S3ClientError):
    code = "XAmzContentSHA256Mismatch"

    def __init__(self):
        super().__init__("XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")


class BadDigest(s3_exceptions.S3ClientError):
    code = "BadDigest"

    def __init__(self, algorithm):
        super().__init__("BadDigest", f"The {algorithm.upper()} you specified did not match the calculated checksum.")


def _refuse_bad_digest(self, query):
    headers = self.headers
    if query.get("uploadId") or any(name in query for name in _KEY_SUBRESOURCES):
        return
    chunked = "aws-chunked" in (headers.get("content-encoding") or "") or (headers.get("x-amz-content-sha256") or "").startswith(
        "STREAMING"
    )
    if chunked:
        return
    signed = headers.get("x-amz-content-sha256") or ""
    if _HEX_SHA256.fullmatch(signed) and hashlib.sha256(bytes(self.body or b"")).hexdigest() != signed:
        raise XAmzContentSHA256Mismatch()
    for algorithm in _CHECKED_DIGESTS:
        given = headers.get(f"x-amz-checksum-{algorithm}")
        if given and s3_utils.compute_checksum(bytes(self.body or b""), algorithm.upper()).decode() != given:
            raise BadDigest(algorithm)


_original_key_response_put = s3_responses.S3Response._key_response_put
_KEY_SUBRESOURCES = ("retention", "legal-hold", "acl", "tagging")  # what moto serves before a copy


def _key_response_put_copying_under_lock(self, query, key_name):
    copying = (
        "x-amz-copy-source" in self.headers
        and not (query.get("uploadId") and query.get("partNumber"))
        and not any(name in query for name in _KEY_SUBRESOURCES)
    )
    if not copying:
        _refuse_bad_digest(self, query)
        return _original_key_response_put(self, query, key_name)
    # moto's own first steps for a PUT to a key, then its copy, without the check for a body's checksum.
    self._set_action("KEY", "PUT", query)
    self._authenticate_and_authorize_s3_action(bucket_name=self.bucket_name, key_name=key_name)
    if _lock_requested(self.headers) and not self.backend.get_bucket(self.bucket_name).object_lock_enabled:
        raise s3_exceptions.LockNotEnabled
    return self.copy_object()


replace(s3_responses.S3Response, "_key_response_put", _key_response_put_copying_under_lock, same_parameters=True)

# Gap 20: a multipart upload's object is never locked: CreateMultipartUpload ignores
# x-amz-object-lock-mode, -retain-until-date and -legal-hold, and CompleteMultipartUpload writes the
# version without the bucket's default retention. S3 takes those headers at CreateMultipartUpload
# (S3 API reference) and the version CompleteMultipartUpload creates gets that lock, or the
# bucket's default retention; lock headers for a bucket without Object Lock are refused. Here the
# upload keeps the lock moto would give a PutObject with the same headers, and the completed version
# gets it. A default retention is counted from the upload's creation, not its completion (not
# checked against S3; a default is whole days, so the difference is the upload's duration).

_original_key_response_post = s3_responses.S3Response._key_response_post
_UPLOAD_ID = re.compile(r"<UploadId>([^<]+)</UploadId>")


def _create_upload_keeping_its_lock(self, request, body, bucket_name, query, key_name):
    if not (body == b"" and "uploads" in query):
        return _original_key_response_post(self, request, body, bucket_name, query, key_name)
    bucket = self.backend.get_bucket(bucket_name)
    if _lock_requested(request.headers) and not bucket.object_lock_enabled:
        raise s3_exceptions.LockNotEnabled
    legal_hold, mode, until = self._get_lock_details(bucket, bucket.object_lock_enabled)
    status, headers, response_body = _original_key_response_post(self, request, body, bucket_name, query, key_name)
    text = response_body.decode() if isinstance(response_body, bytes) else response_body
    upload_id = _UPLOAD_ID.search(text) if status == 200 else None
    upload = upload_id and bucket.multiparts.get(upload_id.group(1))
    if upload is not None:
        upload.object_lock = (mode, until, legal_hold)
    return status, headers, response_body


_original_complete_multipart_upload = s3_models.S3Backend.complete_multipart_upload


def _complete_upload_locking_its_version(self, bucket_name, multipart_id, body):
    upload = self.get_bucket(bucket_name).multiparts.get(multipart_id)
    key = _original_complete_multipart_upload(self, bucket_name, multipart_id, body)
    lock = getattr(upload, "object_lock", None)
    if key is not None and lock is not None:
        key.lock_mode, key.lock_until, key.lock_legal_status = lock
    return key


replace(s3_responses.S3Response, "_key_response_post", _create_upload_keeping_its_lock, same_parameters=True)
replace(
    s3_models.S3Backend, "complete_multipart_upload", _complete_upload_locking_its_version, same_parameters=True
)

# Gap 21: PutObjectRetention overwrites a version's retention whatever it was, and answers a key or
# version that does not exist with a server error (500). S3 (PutObjectRetention in the S3 API
# reference; Object Lock retention modes in the S3 user guide): while a retention is in effect, it
# can always be extended in its mode; under COMPLIANCE its mode cannot be changed nor its date
# shortened or removed, by anyone; under GOVERNANCE that takes x-amz-bypass-governance-retention:
# true (and s3:BypassGovernanceRetention); otherwise 403 AccessDenied. (That GOVERNANCE turned
# COMPLIANCE also takes the bypass is S3's behaviour as Ceph's and MinIO's Object Lock reproduce
# it.) A missing key is NoSuchKey, a missing version NoSuchVersion (404); a delete marker answers
# as it does to GetObject (the current version: NoSuchKey; named by its version: 405
# MethodNotAllowed). Once the date has passed the version is unprotected and any retention can be
# set. Here PutObjectRetention checks so before moto stores the retention.

_INSTANT = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


def _instant(text):
    """An ISO 8601 date as S3 takes it (2030-01-02T03:04:05.678Z), in UTC: on every Python 3.10+
    (datetime.fromisoformat reads a "Z" only from 3.11)."""
    match = _INSTANT.match(text.strip())
    if not match:
        raise s3_exceptions.MalformedXML
    moment = datetime.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    moment = moment.replace(microsecond=int((match.group(2) or "0")[:6].ljust(6, "0")))
    zone = match.group(3) or "Z"
    if zone == "Z":
        return moment.replace(tzinfo=datetime.timezone.utc)
    offset = datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return moment.replace(tzinfo=datetime.timezone(offset if zone[0] == "+" else -offset))


def _retention_from_body(body):
    """(mode, retain-until) of a Retention document; (None, None) for an empty one (no retention)."""
    if not body or not body.strip():
        return None, None
    try:
        retention = xmltodict.parse(body).get("Retention") or {}
    except ExpatError:
        raise s3_exceptions.MalformedXML
    return retention.get("Mode"), retention.get("RetainUntilDate")


def _retention_change_refused(version, mode, until, bypass):
    if version.lock_mode not in ("GOVERNANCE", "COMPLIANCE") or not version.lock_until:
        return False
    current = _instant(version.lock_until)
    if current <= datetime.datetime.now(datetime.timezone.utc):
        return False  # expired: the version is no longer protected
    weakened = mode != version.lock_mode or until is None or _instant(until) < current
    if version.lock_mode == "COMPLIANCE":
        return weakened
    return weakened and not bypass


def _put_object_retention_checked(self):
    version_id = self._get_param("versionId")
    bucket = self.backend.get_bucket(self.bucket_name)
    key_name = self.parse_key_name()
    if not bucket.object_lock_enabled:
        raise s3_exceptions.LockNotEnabled
    mode, until = _retention_from_body(self.body)
    version = self.backend.get_object(self.bucket_name, key_name, version_id=version_id, return_delete_marker=True)
    if isinstance(version, s3_models.FakeDeleteMarker):
        if version_id is None:  # the key's current version is a delete marker: the key is gone
            raise s3_exceptions.MissingKey(key=key_name)
        raise s3_exceptions.MethodNotAllowed(method="PUT", resource_type="DeleteMarker")
    if version is None:
        if version_id is None:
            raise s3_exceptions.MissingKey(key=key_name)
        raise s3_exceptions.MissingVersion(key=key_name, version_id=version_id)
    if _retention_change_refused(version, mode, until, _bypasses_governance(self.headers)):
        raise s3_exceptions.AccessDeniedByLock
    self.backend.put_object_retention(self.bucket_name, key_name, version_id=version_id, retention=(mode, until))
    response_headers = self._get_cors_headers_other()
    self._get_checksum(response_headers)
    return 200, response_headers, ""


replace(s3_responses.S3Response, "put_object_retention", _put_object_retention_checked, same_parameters=True)

# Gap 22: PutBucketVersioning with Status Suspended is accepted on an Object Lock bucket, which then
# writes unversioned ("null") versions that a later write replaces. S3 refuses it: 409
# InvalidBucketState, "An Object Lock configuration is present on this bucket, so the versioning
# state cannot be changed." (PutBucketVersioning in the S3 API reference: Object Lock buckets cannot
# suspend versioning). Here the backend refuses it, and an InvalidBucketState from a bucket PUT is
# answered with S3's 409 Conflict (moto answers an error its S3 model lacks with 400; this one is
# also what PutObjectLockConfiguration raises for a bucket without versioning).

_original_put_bucket_versioning = s3_models.S3Backend.put_bucket_versioning


def _put_bucket_versioning_keeping_lock(self, bucket_name, status):
    if status != "Enabled" and self.get_bucket(bucket_name).object_lock_enabled:
        raise s3_exceptions.InvalidBucketState(
            "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."
        )
    return _original_put_bucket_versioning(self, bucket_name, status)


_original_bucket_response_put = s3_responses.S3Response._bucket_response_put


def _bucket_response_put_with_conflicts(self, request, bucket_name, querystring):
    try:
        return _original_bucket_response_put(self, request, bucket_name, querystring)
    except s3_exceptions.InvalidBucketState as error:
        _, headers, body = self.serialized(ActionResult(error))
        return 409, headers, body


replace(s3_models.S3Backend, "put_bucket_versioning", _put_bucket_versioning_keeping_lock, same_parameters=True)
replace(s3_responses.S3Response, "_bucket_response_put", _bucket_response_put_with_conflicts, same_parameters=True)

# Gap 23: DeleteObject takes any value of x-amz-bypass-governance-retention as true, "false"
# included (moto passes the header's text on as the bypass flag; its DeleteObjects compares it with
# "true"). S3 reads the header as a boolean: only true bypasses a GOVERNANCE retention (DeleteObject
# in the S3 API reference); a delete of a locked version without it is 403 AccessDenied. Here the
# flag DeleteObject passes on is true for "true" (any case) only.

_original_delete_object = s3_models.S3Backend.delete_object
_DELETE_OBJECT = Parameters(_original_delete_object, "bypass")


def _delete_object_bypassing_only_when_true(self, *args, **kwargs):
    call = _DELETE_OBJECT.bind(self, *args, **kwargs)
    bypass = call.arguments["bypass"]
    if isinstance(bypass, str):
        call.arguments["bypass"] = bypass.strip().lower() == "true"
    return _original_delete_object(*call.args, **call.kwargs)


replace(s3_models.S3Backend, "delete_object", _delete_object_bypassing_only_when_true)

# Gap 24: PutObjectLockConfiguration on a bucket that holds any version is refused ("InvalidBucket:
# Bucket needs to be empty"), so the default retention of an Object Lock bucket in use cannot be
# changed, nor Object Lock turned on for a versioned bucket that already holds objects. S3 allows
# both (PutObjectLockConfiguration in the S3 API reference: it places or replaces the bucket's
# default retention; since November 2023 it also enables Object Lock on an existing versioned
# bucket); versions already written keep the lock they were written with. Versioning must be
# enabled, else 409 InvalidBucketState (gap 22 gives it S3's status). Here the emptiness check is
# gone.


def _put_object_lock_configuration_in_use(self, bucket_name, lock_enabled, mode=None, days=None, years=None):
    bucket = self.get_bucket(bucket_name)
    if not bucket.is_versioned:
        raise s3_exceptions.InvalidBucketState(
            "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
        )
    if lock_enabled:
        bucket.object_lock_enabled = True
        bucket.versioning_status = "Enabled"
    bucket.default_lock_mode = mode
    bucket.default_lock_days = days
    bucket.default_lock_years = years


replace(
    s3_models.S3Backend, "put_object_lock_configuration", _put_object_lock_configuration_in_use, same_parameters=True
)

# Gap 25: moto ignores x-amz-expected-bucket-owner and x-amz-source-expected-bucket-owner, so a
# request naming the account it expects to own a bucket succeeds whoever owns it. S3 refuses it
# with 403 AccessDenied when the bucket (or, for CopyObject and UploadPartCopy, the copy source's
# bucket) belongs to another account ("Verifying bucket ownership with bucket owner condition", S3
# User Guide). The stack names a vault account's buckets' owner on every request to them
# (functions/shared/aws-clients.ts). Here both headers are checked before the request is served; a
# bucket that does not exist is left to moto's own NoSuchBucket.


def _owner_refused(backend, bucket_name, expected):
    if not (bucket_name and expected):
        return False
    try:
        bucket = backend.get_bucket(bucket_name)
    except s3_exceptions.MissingBucket:
        return False
    return bucket.account_id != expected


def _copy_source_bucket(headers):
    source = headers.get("x-amz-copy-source")
    if not source:
        return None
    return urllib.parse.unquote(source).lstrip("/").split("/", 1)[0]


def _checking_expected_owners(serve):
    def checked(self, request, full_url):
        headers = request.headers
        if _owner_refused(
            self.backend, self.parse_bucket_name_from_url(request, full_url), headers.get("x-amz-expected-bucket-owner")
        ) or _owner_refused(self.backend, _copy_source_bucket(headers), headers.get("x-amz-source-expected-bucket-owner")):
            raise s3_exceptions.S3AccessDeniedError()
        return serve(self, request, full_url)

    checked.__name__ = serve.__name__
    return checked


replace(
    s3_responses.S3Response,
    "_bucket_response",
    _checking_expected_owners(s3_responses.S3Response._bucket_response),
    same_parameters=True,
)
replace(
    s3_responses.S3Response, "_key_response", _checking_expected_owners(s3_responses.S3Response._key_response), same_parameters=True
)

# Gap 28: CompleteMultipartUpload holds the object in memory four times over: it appends every part
# to one buffer, appends them again to a second for a full-object checksum (the CLI's and the SDK's
# default, CRC64NVME), then copies each buffer once more before the object is written to its file.
# For a 321 MB object that is about 1.3 GB of fresh memory, which this kind of machine spends most
# of its time zeroing (the kernel's clear_page was 46 % of moto's CPU in a profile of `aws s3 cp` of
# a Chroma data directory, its system time 8.6 of 9.7 s), and which varied by three times from one
# upload to the next. S3 puts the parts together at no cost to the client. Here the parts are read
# once into one buffer of the object's size and a full-object checksum is computed part by part
# (the same value: CRC32, CRC64NVME and the hashes continue over the parts; CRC32C falls back to
# CRC32 without the crc32c package, as moto's compute_checksum does).

_CRCS = ("CRC32", "CRC32C", "CRC64NVME")


class _RunningChecksum:
    """A full-object checksum continued part by part: compute_checksum's value over the parts together."""

    def __init__(self, algorithm):
        self._algorithm = algorithm
        self._value = 0
        self._hash = None if algorithm in _CRCS else (hashlib.sha1 if algorithm == "SHA1" else hashlib.sha256)()

    def update(self, data):
        if self._hash is not None:
            self._hash.update(data)
        elif self._algorithm == "CRC64NVME" and s3_utils.HAS_CRT:
            from awscrt import checksums

            self._value = checksums.crc64nvme(data, self._value)
        elif self._algorithm == "CRC32C" and _crc32c is not None:
            self._value = _crc32c.crc32c(data, self._value)
        else:
            self._value = binascii.crc32(data, self._value)

    def digest(self):
        if self._hash is not None:
            return self._hash.digest()
        return self._value.to_bytes(8 if self._algorithm == "CRC64NVME" and s3_utils.HAS_CRT else 4, "big")


try:
    import crc32c as _crc32c
except ImportError:
    _crc32c = None


def _complete_reading_each_part_once(self, body):
    algorithm = self.metadata.get("x-amz-checksum-algorithm") or "CRC64NVME"
    checksum_type = self.metadata.get("x-amz-checksum-type") or ("FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE")
    parts = []
    for number, etag in body:
        part = self.parts.get(number)
        if part is None or part.etag.replace('"', "") != etag.replace('"', ""):
            raise s3_exceptions.InvalidPart()
        if parts and parts[-1].contentsize < s3_models.S3_UPLOAD_PART_MIN_SIZE:
            raise s3_exceptions.EntityTooSmall()
        parts.append(part)
    if not parts:
        raise s3_exceptions.MalformedXML

    total = bytearray(sum(part.contentsize for part in parts))
    view = memoryview(total)
    md5s = bytearray()
    composite = bytearray()
    running = _RunningChecksum(algorithm)
    offset = 0
    for part in parts:
        md5s.extend(bytes.fromhex(part.etag.replace('"', "")))
        with part.lock:
            part._value_buffer.seek(0)
            read = part._value_buffer.readinto(view[offset : offset + part.contentsize])
        data = view[offset : offset + read]
        if checksum_type == "COMPOSITE":
            composite.extend(s3_utils.compute_checksum(data, algorithm, encode_base64=False))
        else:
            running.update(data)
        offset += read
    view.release()
    if checksum_type == "COMPOSITE":
        checksum = (checksum_type, s3_utils.compute_checksum(bytes(composite), algorithm).decode(), len(parts))
    else:
        checksum = (checksum_type, base64.b64encode(running.digest()).decode(), 1)
    return total, f"{hashlib.md5(bytes(md5s)).hexdigest()}-{len(parts)}", checksum


replace(s3_models.FakeMultipart, "complete", _complete_reading_each_part_once, same_parameters=True)
