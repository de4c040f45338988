"""Counts the requests the local AWS serves, by service and operation, where they are served.

Tests and benchmarks read the counts to assert how many requests a piece of work costs (request
counts are deterministic, unlike timings):
  GET    /_local-aws/requests            {"requests": [{"service", "operation", "count", "bytes"}, ...]} (sorted);
                                         bytes: the response bodies' bytes (for GetObject, the object data served)
  GET    /_local-aws/requests/timeline   {"requests": [{"service", "operation", "start", "end", "bytes"}, ...],
                                          "truncated": bool}: each served request (in the order they ended), start when it
                                         arrived and end when its response's last byte was handed to the socket
                                         (seconds since the epoch), for benchmarks that measure sequential round
                                         trips; at most TIMELINE_LIMIT requests are kept
  DELETE /_local-aws/requests            resets all of them
They are answered by the server itself and are not counted.

The service is the SigV4 credential scope's (Authorization: ... Credential=<key>/<date>/<region>/<service>/aws4_request).
The operation is the X-Amz-Target header's (JSON protocols: DynamoDB, SQS, EventBridge), the path's
(RPC v2 CBOR: /service/<name>/operation/<Operation>; Lambda's Invoke), the x-id or the query's
subresource for S3's REST API, or the Action of a query-protocol request.
"""
import io
import json
import re
import threading
import time
from collections import Counter
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from moto_patches._patching import replace

PATH = "/_local-aws/requests"
TIMELINE_PATH = PATH + "/timeline"
TIMELINE_LIMIT = 200_000
_counts = Counter()
_bytes = Counter()
_timeline = []
_lock = threading.Lock()

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_RPC = re.compile(r"^/service/[^/]+/operation/([A-Za-z]+)$")
_LAMBDA_INVOKE = re.compile(r"^/2015-03-31/functions/[^/]+/invocations$")


def _s3_operation(method, path, query, environ):
    """The S3 REST operation of a request (the SDK names most in x-id; the rest by subresource)."""
    if "x-id" in query:
        return query["x-id"][0]
    has_key = path.strip("/").count("/") >= 1
    copy = "HTTP_X_AMZ_COPY_SOURCE" in environ
    if "uploadId" in query:
        if method == "PUT":
            return "UploadPartCopy" if copy else "UploadPart"
        return {"POST": "CompleteMultipartUpload", "DELETE": "AbortMultipartUpload", "GET": "ListParts"}.get(method, method)
    if "uploads" in query:
        return "CreateMultipartUpload" if method == "POST" else "ListMultipartUploads"
    for subresource, names in (
        ("versions", {"GET": "ListObjectVersions"}),
        ("versioning", {"GET": "GetBucketVersioning", "PUT": "PutBucketVersioning"}),
        ("tagging", {"GET": "GetObjectTagging", "PUT": "PutObjectTagging", "DELETE": "DeleteObjectTagging"}),
        ("delete", {"POST": "DeleteObjects"}),
        ("attributes", {"GET": "GetObjectAttributes"}),
        ("notification", {"GET": "GetBucketNotificationConfiguration", "PUT": "PutBucketNotificationConfiguration"}),
        ("location", {"GET": "GetBucketLocation"}),
        ("object-lock", {"GET": "GetObjectLockConfiguration", "PUT": "PutObjectLockConfiguration"}),
        ("retention", {"GET": "GetObjectRetention", "PUT": "PutObjectRetention"}),
        ("legal-hold", {"GET": "GetObjectLegalHold", "PUT": "PutObjectLegalHold"}),
    ):
        if subresource in query:
            return names.get(method, f"{method} ?{subresource}")
    if "list-type" in query:
        return "ListObjectsV2"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "GET":
        return "GetObject" if has_key else "ListObjects"
    if method == "PUT":
        return ("CopyObject" if copy else "PutObject") if has_key else "CreateBucket"
    if method == "DELETE":
        return "DeleteObject" if has_key else "DeleteBucket"
    return method


def classify(environ):
    """(service, operation) of a request, as AWS would bill it."""
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = scope.group(1) if scope else "unsigned"
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return service, target.split(".")[-1]
    rpc = _RPC.match(path)
    if rpc:
        return service, rpc.group(1)
    if service == "s3":
        return service, _s3_operation(method, path, query, environ)
    if _LAMBDA_INVOKE.match(path):
        return service, "Invoke"
    if "Action" in query:
        return service, query["Action"][0]
    if method == "POST" and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # put back for moto
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return service, action[0]
    return service, f"{method} {path.split('/')[1] if '/' in path else path}"


def _json(start_response, document):
    body = json.dumps(document).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _answer(environ, start_response):
    if environ.get("REQUEST_METHOD") == "DELETE":
        with _lock:
            _counts.clear()
            _bytes.clear()
            _timeline.clear()
        start_response("204 No Content", [])
        return [b""]
    with _lock:
        if environ.get("PATH_INFO") == TIMELINE_PATH:
            rows = [{"service": s, "operation": o, "start": a, "end": b, "bytes": n} for (s, o), a, b, n in _timeline]
            return _json(start_response, {"requests": rows, "truncated": len(_timeline) >= TIMELINE_LIMIT})
        rows = [{"service": s, "operation": o, "count": n, "bytes": _bytes[(s, o)]} for (s, o), n in sorted(_counts.items())]
    return _json(start_response, {"requests": rows})


class _Measured:
    """A response body passed through unchanged, its bytes counted; closing it records the request."""

    def __init__(self, body, key, start):
        self._body, self._key, self._start, self._bytes = body, key, start, 0

    def __iter__(self):
        for chunk in self._body:
            self._bytes += len(chunk)
            yield chunk

    def close(self):
        end = time.time()
        try:
            if hasattr(self._body, "close"):
                self._body.close()
        finally:
            with _lock:
                _bytes[self._key] += self._bytes
                if len(_timeline) < TIMELINE_LIMIT:
                    _timeline.append((self._key, self._start, end, self._bytes))


_serve = DomainDispatcherApplication.__call__


def counted_call(self, environ, start_response):
    if environ.get("PATH_INFO") in (PATH, TIMELINE_PATH):
        return _answer(environ, start_response)
    start = time.time()
    key = classify(environ)
    with _lock:
        _counts[key] += 1
    return _Measured(_serve(self, environ, start_response), key, start)


counted_call.__name__ = "__call__"
replace(DomainDispatcherApplication, "__call__", counted_call, same_parameters=True)
