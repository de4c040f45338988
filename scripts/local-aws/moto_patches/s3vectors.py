"""S3 Vectors gaps of moto 5.2.5: 6, 7 and 8, closed for the S3 Vectors VectorStore adapter."""
import base64
import hashlib
import math

import moto.s3vectors.models as s3vectors_models
import moto.s3vectors.responses as s3vectors_responses
import moto.s3vectors.urls as s3vectors_urls
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult

from ._patching import Parameters, replace

# Gap 6: CreateIndex with the name of an existing index silently replaces it (its vectors are lost).
# S3 Vectors answers ConflictException.


class _IndexAlreadyExists(ServiceException):
    code = "ConflictException"

    def __init__(self) -> None:
        super().__init__("An index with the specified name already exists")


_original_create_index = s3vectors_models.S3VectorsBackend.create_index
_CREATE_INDEX = Parameters(_original_create_index, "vector_bucket_name", "vector_bucket_arn", "index_name")


def _create_index_once(self, *args, **kwargs):
    call = _CREATE_INDEX.bind(self, *args, **kwargs).arguments
    bucket = self.get_vector_bucket(
        vector_bucket_name=call["vector_bucket_name"], vector_bucket_arn=call["vector_bucket_arn"]
    )
    if any(index.index_name == call["index_name"] for index in bucket.indexes.values()):
        raise _IndexAlreadyExists()
    return _original_create_index(self, *args, **kwargs)


replace(s3vectors_models.S3VectorsBackend, "create_index", _create_index_once)


def _vector_result(vector, return_data, return_metadata, **extra):
    return {
        "key": vector.key,
        "data": vector.data if return_data else None,
        "metadata": vector.metadata if return_metadata else None,
        **extra,
    }


# Gap 7: ListVectors ignores maxResults and nextToken and returns every vector in one page, and
# ignores segmentCount and segmentIndex (moto: "Segmentation is not yet implemented"). S3 Vectors
# pages (maxResults 1..1000, default 500) with an opaque nextToken, and lists in parallel segments
# (segmentCount 1..16, segmentIndex 0..segmentCount-1, both or neither), which together hold every
# vector once. Here the vectors are listed in key order and the token carries the last key listed,
# so a key written during a listing is either in a later page or not at all (never twice); a key's
# segment is its SHA-256 modulo segmentCount, so the segments are disjoint and cover the index.


def _segment_of(key: str, count: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % count


def _list_vectors_paged(self):
    segment_count = self._get_param("segmentCount")
    segment_index = self._get_param("segmentIndex")
    if (segment_count is None) != (segment_index is None):
        raise s3vectors_responses.ValidationError("segmentCount and segmentIndex must be given together")
    if segment_count is not None and not (1 <= segment_count <= 16 and 0 <= segment_index < segment_count):
        raise s3vectors_responses.ValidationError("segmentCount must be 1..16 and segmentIndex 0..segmentCount-1")
    index = self.s3vectors_backend.get_index(
        self._get_param("vectorBucketName"), self._get_param("indexName"), self._get_param("indexArn")
    )
    max_results = self._get_param("maxResults") or 500
    if not 1 <= max_results <= 1000:
        raise s3vectors_responses.ValidationError("maxResults must be between 1 and 1000")
    token = self._get_param("nextToken")
    after = base64.urlsafe_b64decode(token.encode()).decode() if token else None
    keys = sorted(
        key
        for key in index.vectors
        if (after is None or key > after) and (segment_count is None or _segment_of(key, segment_count) == segment_index)
    )
    page = keys[:max_results]
    return_data = self._get_bool_param("returnData", False)
    return_metadata = self._get_bool_param("returnMetadata", False)
    result = {"vectors": [_vector_result(index.vectors[key], return_data, return_metadata) for key in page]}
    if len(keys) > max_results:
        result["nextToken"] = base64.urlsafe_b64encode(page[-1].encode()).decode()
    return ActionResult(result)


replace(s3vectors_responses.S3VectorsResponse, "list_vectors", _list_vectors_paged, same_parameters=True)

# Gap 8: QueryVectors is missing (the request answers 404). Here it is an exact brute-force search
# over the index with its distance metric (cosine: 1 - cosine similarity; euclidean: L2 distance),
# nearest first. S3 Vectors itself is approximate. Metadata filters are refused rather than ignored.


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


# Added, not replaced: moto has neither the action nor its URL.
s3vectors_responses.S3VectorsResponse.query_vectors = _query_vectors
s3vectors_urls.url_paths["{0}/QueryVectors$"] = s3vectors_responses.S3VectorsResponse.dispatch
