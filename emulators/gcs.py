"""The GCS emulator the tests run: gcp-storage-emulator (PyPI, pure Python, in memory) plus the
XML API requests that object_store's GCS client sends and that the emulator lacks.

object_store 0.14 (src/gcp/client.rs) speaks only the XML API: PUT/GET/HEAD/DELETE
`{base}/{bucket}/{percent-encoded key}`, list `GET {base}/{bucket}?list-type=2`, multipart
`POST ?uploads`, `PUT ?partNumber=N&uploadId=X`, `POST ?uploadId=X`, `DELETE ?uploadId=X`, copy
with `x-goog-copy-source`. It needs `ETag` on every PUT and `ETag`/`Last-Modified` on GET/HEAD.
gcp-storage-emulator serves the JSON API (what google-cloud-storage, and so the tests' reader,
uses) but of that XML set only a bare PUT (no ETag) and GET; the routes below fill the gap on
the same storage, so both APIs see the same objects.

Usage: python emulators/gcs.py PORT  (binds 127.0.0.1; no auth is checked).
"""

import hashlib
import secrets
import sys
from datetime import datetime
from email.utils import format_datetime
from http import HTTPStatus
from urllib.parse import unquote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from gcp_storage_emulator import server
from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers import objects

BUCKET = r"(?P<bucket_name>[-.\w%]+)"
# Multipart uploads in progress: upload id -> (bucket, key, content type, {part number: bytes}).
UPLOADS = {}


def _etag(obj):
    return '"{}"'.format(obj.get("etag") or obj["generation"])


def _http_date(rfc3339):
    return format_datetime(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")), usegmt=True)


def _object_headers(response, obj):
    response["ETag"] = _etag(obj)
    response["x-goog-generation"] = obj["generation"]
    response["Last-Modified"] = _http_date(obj["updated"])


def _xml(response, body, status=HTTPStatus.OK):
    response.status = status
    response.write_file('<?xml version="1.0" encoding="UTF-8"?>' + body, "application/xml")


def _store(request, storage, bucket, key, content, content_type):
    """Writes an object the way the emulator's own uploads do, with an etag; returns it."""
    obj = objects._make_object_resource(
        request.base_url, bucket, key, content_type, str(len(content))
    )
    obj = objects._checksums(content, obj)
    obj["etag"] = hashlib.md5(content).hexdigest()
    storage.create_file(bucket, key, content, obj)
    return obj


def _precondition_fails(request, storage, bucket, key):
    """`x-goog-if-generation-match`: 0 means "must not exist" (object_store's PutMode::Create)."""
    wanted = request.get_header("x-goog-if-generation-match")
    if wanted is None:
        return False
    try:
        current = storage.get_file_obj(bucket, key)["generation"]
    except NotFound:
        current = "0"
    return str(wanted) != current


def list_v2(request, response, storage, *args, **kwargs):
    """ListObjectsV2-style listing (`GET /{bucket}?list-type=2`)."""
    if "list-type" not in request.query:
        response.status = HTTPStatus.NOT_IMPLEMENTED
        return
    q = {k: v[0] for k, v in request.query.items()}
    bucket = request.params["bucket_name"]
    prefix = q.get("prefix") or None
    try:
        objs, prefixes = storage.get_file_list(bucket, prefix, q.get("delimiter") or None)
    except NotFound:
        response.status = HTTPStatus.NOT_FOUND
        return
    after = q.get("continuation-token") or q.get("start-after") or ""
    entries = sorted(
        [(o["name"], o) for o in objs if o["name"] > after]
        + [(p, None) for p in prefixes if p > after]
    )
    limit = int(q.get("max-keys", 1000))
    page, more = entries[:limit], len(entries) > limit
    body = "".join(
        "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>".format(escape(name))
        if obj is None
        else "<Contents><Key>{}</Key><Size>{}</Size><LastModified>{}</LastModified>"
        "<ETag>{}</ETag></Contents>".format(
            escape(name), obj["size"], obj["updated"], escape(_etag(obj))
        )
        for name, obj in page
    )
    if more:
        body += "<NextContinuationToken>{}</NextContinuationToken>".format(escape(page[-1][0]))
    _xml(
        response,
        "<ListBucketResult><Name>{}</Name><KeyCount>{}</KeyCount>{}</ListBucketResult>".format(
            escape(bucket), len(page), body
        ),
    )


def get_object(request, response, storage, *args, **kwargs):
    """GET and HEAD: the emulator's download, with ETag, Last-Modified and generation."""
    objects.download(request, response, storage)
    if response.status in (HTTPStatus.OK, HTTPStatus.PARTIAL_CONTENT):
        bucket, key = request.params["bucket_name"], request.params["object_id"]
        _object_headers(response, storage.get_file_obj(bucket, key))


def put_object(request, response, storage, *args, **kwargs):
    """Simple put, multipart part upload, or copy (`x-goog-copy-source`)."""
    bucket, key = request.params["bucket_name"], request.params["object_id"]
    content = _body(request)
    upload_id = request.query.get("uploadId", [None])[0]
    if upload_id is not None:
        if upload_id not in UPLOADS:
            response.status = HTTPStatus.NOT_FOUND
            return
        part = int(request.query["partNumber"][0])
        UPLOADS[upload_id][3][part] = content
        response["ETag"] = '"{}"'.format(hashlib.md5(content).hexdigest())
        return
    if _precondition_fails(request, storage, bucket, key):
        response.status = HTTPStatus.PRECONDITION_FAILED
        return
    content_type = request.get_header("Content-Type", "application/octet-stream")
    source = request.get_header("x-goog-copy-source")
    try:
        if source is not None:
            # `{bucket}/{key}`, each percent-encoded.
            src_bucket, _, src_key = map(unquote, source.lstrip("/").partition("/"))
            src_obj = storage.get_file_obj(src_bucket, src_key)
            content = storage.get_file(src_bucket, src_key)
            content_type = src_obj["contentType"]
        obj = _store(request, storage, bucket, key, content, content_type)
    except NotFound:
        response.status = HTTPStatus.NOT_FOUND
        return
    _object_headers(response, obj)


def post_object(request, response, storage, *args, **kwargs):
    """Multipart initiate (`?uploads`) and complete (`?uploadId=`)."""
    bucket, key = request.params["bucket_name"], request.params["object_id"]
    if _has_param(request, "uploads"):
        if storage.buckets.get(bucket) is None:
            response.status = HTTPStatus.NOT_FOUND
            return
        upload_id = secrets.token_hex(16)
        content_type = request.get_header("Content-Type", "application/octet-stream")
        UPLOADS[upload_id] = (bucket, key, content_type, {})
        _xml(
            response,
            "<InitiateMultipartUploadResult><Bucket>{}</Bucket><Key>{}</Key>"
            "<UploadId>{}</UploadId></InitiateMultipartUploadResult>".format(
                escape(bucket), escape(key), upload_id
            ),
        )
        return
    upload_id = request.query.get("uploadId", [None])[0]
    if upload_id not in UPLOADS:
        response.status = HTTPStatus.NOT_FOUND
        return
    _, _, content_type, parts = UPLOADS[upload_id]
    listed = ElementTree.fromstring(_body(request) or b"<CompleteMultipartUpload/>")
    numbers = [int(p.findtext("PartNumber")) for p in listed.iter("Part")]
    if any(n not in parts for n in numbers):
        response.status = HTTPStatus.BAD_REQUEST
        return
    content = b"".join(parts[n] for n in numbers)
    del UPLOADS[upload_id]
    obj = _store(request, storage, bucket, key, content, content_type)
    response["x-goog-generation"] = obj["generation"]
    _xml(
        response,
        "<CompleteMultipartUploadResult><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag>"
        "</CompleteMultipartUploadResult>".format(escape(bucket), escape(key), _etag(obj)),
    )


def delete_object(request, response, storage, *args, **kwargs):
    """Delete an object, or abort a multipart upload (`?uploadId=`)."""
    upload_id = request.query.get("uploadId", [None])[0]
    if upload_id is not None:
        UPLOADS.pop(upload_id, None)
    else:
        objects.delete(request, response, storage)
    if response.status == HTTPStatus.OK:
        response.status = HTTPStatus.NO_CONTENT


def _has_param(request, name):
    # parse_qs drops parameters without a value, such as `?uploads=`.
    return name in (p.partition("=")[0] for p in request._parsed_url.query.split("&"))


def _body(request):
    """The raw request body (the emulator's `request.data` parses JSON and multipart bodies)."""
    handler = request._request_handler
    return server._decode_raw_data(server._read_raw_data(handler), handler) or b""


def _close(self):
    """Response.close that sends no body to a HEAD (the emulator has no HEAD at all)."""
    handler = self._handler
    content = self._content.encode("utf-8") if isinstance(self._content, str) else self._content
    handler.send_response(self.status.value, self.status.phrase)
    for k, v in self._headers.items():
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(content or b"")))
    handler.end_headers()
    if handler.command != "HEAD" and self.status != HTTPStatus.NO_CONTENT:
        handler.wfile.write(content or b"")


def install():
    """Puts the XML routes in place of the emulator's bare `/{bucket}/{object}` one."""
    server.Response.close = _close
    server.RequestHandler.do_HEAD = lambda self: server.Router(self).handle("HEAD")
    xml_routes = (
        (r"^/{}$".format(BUCKET), {server.GET: list_v2}),
        (
            r"^/{}/(?P<object_id>.*[^/]+)$".format(BUCKET),
            {
                server.GET: get_object,
                "HEAD": get_object,
                server.PUT: put_object,
                server.POST: post_object,
                server.DELETE: delete_object,
            },
        ),
    )
    # The emulator's last route is its own `/{bucket}/{object}`; `/` and `/wipe` stay first.
    server.HANDLERS = server.HANDLERS[:-1] + xml_routes


if __name__ == "__main__":
    install()
    emulator = server.create_server("127.0.0.1", int(sys.argv[1]), in_memory=True)
    emulator.run()
