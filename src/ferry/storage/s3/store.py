"""The ``s3`` backend: Amazon S3 and S3-compatible services, through boto3.

Address: ``s3://BUCKET/PREFIX``. The endpoint, region and credentials come from the standard
AWS environment variables of the mapping given to :func:`open_address` (the CLI passes the
process environment); nothing else of the process environment is consulted.

Layout (docs/design.md §3.6, :mod:`ferry.storage.objects`):

- a file is an object ``PREFIX/PATH`` whose user metadata records the source's times, mode
  and owner, and ``ferry_md5`` (the content MD5) when it is known at commit;
- a directory is a zero-length marker object ``PREFIX/PATH/`` with ``hdi_isfolder=true`` and
  the directory's recorded times; a prefix without a marker is a directory too. Some
  S3-compatible services (SeaweedFS) turn a key ending in ``/`` into a folder of their own and
  drop its user metadata: there a directory reads back with the service's time.

Listings carry no user metadata (``Capabilities.listing_metadata`` is False): a listed file
has Last-Modified as its mtime and the ETag as its MD5 when the ETag is a plain MD5; ``stat``
(HEAD) returns what Ferry recorded, and the engine stats an item before calling it unchanged.

Writes: a file of one part is buffered and sent with one PutObject (with Content-MD5, so the
service checks the bytes). A bigger file is a multipart upload, each part with Content-MD5;
nothing is visible before CompleteMultipartUpload. ``ferry_md5`` of a multipart object needs
a CopyObject of the object onto itself after the upload (its ETag is not an MD5); that is
done when ``commit`` gets an MD5 and the object is at most 5 GiB (the CopyObject limit).
An interrupted multipart upload stays on the service (``abort(keep_for_resume=True)``); the
next attempt for the same key resumes it and reports its parts in ``unverified_parts``, which
the engine checks against the source before skipping them.

Server-side copy between two buckets or prefixes of the same endpoint and credentials uses
CopyObject (UploadPartCopy above 5 GiB) with the source's ETag as a precondition.

Modules: :mod:`.address` (addresses), :mod:`.client` (endpoint, credentials, the client),
:mod:`.errors` (error mapping), :mod:`.upload` (uploads), :mod:`.fast` (small PutObjects),
:mod:`.limits` (S3's limits); this one holds the store. Reads are
:class:`ferry.storage.object_io.ObjectReadHandle`.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import hashlib
import logging
import secrets
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ferry.storage.base import Capabilities, ReadHandle, Store, Upload
from ferry.storage.entry import Entry, EntryKind, join_path
from ferry.storage.errors import (
    AlreadyExists,
    DirectoryNotEmpty,
    NotFound,
    SourceChanged,
    StorageError,
    StoreIOError,
    TransientIOError,
)
from ferry.storage.naming import S3
from ferry.storage.object_io import ObjectReadHandle
from ferry.storage.objects import (
    FERRY_KEYS,
    FOLDER,
    MTIME,
    OFFLINE_TIERS,
    etag_md5,
    fields_from_metadata,
    folder_prefix,
    in_name_order,
    last_modified_ns,
    lower_keys,
    metadata_for,
    object_key,
    plain_etag,
    stored_md5,
)
from ferry.storage.s3.address import check_bucket_name, parse_address
from ferry.storage.s3.client import connect
from ferry.storage.s3.errors import error_code, http_status, map_error
from ferry.storage.s3.fast import FastPutObject
from ferry.storage.s3.limits import (
    COPY_OBJECT_LIMIT,
    COPY_PART_SIZE,
    COPY_THREADS,
    MAX_PARTS,
    MIB,
    STANDARD,
)
from ferry.storage.s3.upload import S3Upload, choose_part_size

_log = logging.getLogger(__name__)

_FILE, _DIR = EntryKind.FILE, EntryKind.DIR

# Headers an object keeps when its metadata is rewritten by a copy onto itself.
_KEPT_HEADERS = (
    ("ContentType", "ContentType"),
    ("CacheControl", "CacheControl"),
    ("ContentDisposition", "ContentDisposition"),
    ("ContentEncoding", "ContentEncoding"),
    ("ContentLanguage", "ContentLanguage"),
    ("Expires", "Expires"),
    ("WebsiteRedirectLocation", "WebsiteRedirectLocation"),
    ("ServerSideEncryption", "ServerSideEncryption"),
    ("SSEKMSKeyId", "SSEKMSKeyId"),
)


def open_address(address: str, env: Mapping[str, str]) -> S3Store:
    """Open ``s3://BUCKET/PREFIX`` with the endpoint, region and credentials of ``env``:
    AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, AWS_REGION or AWS_DEFAULT_REGION,
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN or AWS_PROFILE,
    AWS_CA_BUNDLE, and FERRY_S3_ADDRESSING=path|virtual (see
    :func:`ferry.storage.s3.client.connect`)."""
    found = connect(address, env)
    return S3Store(
        found.client,
        found.bucket,
        found.prefix,
        region=found.region,
        identity=found.identity,
        fast=found.fast,
    )


# --------------------------------------------------------------------------------------------
# The store


class S3Store(Store):
    """A prefix of an S3 bucket (or the whole bucket)."""

    naming = S3
    list_page_size: int | None = None  # keys per listing page; None: the service's (1,000)

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        region: str = "us-east-1",
        identity: tuple[str, str] = ("", ""),
        fast: FastPutObject | None = None,
    ) -> None:
        self.client = client
        self.fast = fast
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.naming = S3.below(self.prefix)  # the service limits whole keys
        self.region = region
        self.identity = identity
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.capabilities = Capabilities(
            posix_metadata=True,
            set_owner=True,
            mtime_precision_ns=1,
            case_insensitive=False,
            server_side_copy=True,
            listing_metadata=False,
        )

    # -- keys and calls ------------------------------------------------------------------

    def key(self, path: str) -> str:
        """The object key of ``path`` ('' is the root prefix itself)."""
        return object_key(self.prefix, path, "bucket")

    def dir_key(self, path: str) -> str:
        """The marker key of directory ``path``, which is also the listing prefix of its items."""
        return folder_prefix(self.key(path))

    def call(self, operation: str, path: str, **kwargs: Any) -> Any:
        """``client.<operation>(**kwargs)`` with its errors mapped to storage errors."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise map_error(exc, path) from exc

    def head(self, key: str, path: str) -> dict[str, Any] | None:
        """HEAD of ``key``; None when there is no such object."""
        try:
            response: dict[str, Any] = self.call("head_object", path, Bucket=self.bucket, Key=key)
        except NotFound:
            return None
        return response

    # -- reading -------------------------------------------------------------------------

    def _file_entry(self, path: str, head: Mapping[str, Any]) -> Entry:
        metadata = head.get("Metadata")
        opaque = str(head.get("ServerSideEncryption", "")).startswith("aws:kms") or bool(
            head.get("SSECustomerAlgorithm")
        )
        md5 = stored_md5(metadata) or (None if opaque else etag_md5(head.get("ETag")))
        return Entry(
            path,
            _FILE,
            int(head.get("ContentLength") or 0),
            md5=md5,
            etag=plain_etag(head.get("ETag")),
            tier=head.get("StorageClass") or STANDARD,
            **fields_from_metadata(metadata, last_modified_ns(head["LastModified"])),  # type: ignore[arg-type]
        )

    def _dir_entry(self, path: str, head: Mapping[str, Any] | None) -> Entry:
        if head is None:
            return Entry(path, _DIR)
        return Entry(
            path,
            _DIR,
            etag=plain_etag(head.get("ETag")),
            **fields_from_metadata(head.get("Metadata"), last_modified_ns(head["LastModified"])),  # type: ignore[arg-type]
        )

    def list_dir(self, path: str, partials: list[str] | None = None) -> Iterator[Entry]:
        # S3 has no partial objects of Ferry's (an upload is invisible until it completes),
        # so ``partials`` never gets anything.
        return in_name_order(self._listing(path))

    def _listing(self, path: str) -> Iterator[tuple[bool, Entry]]:
        prefix = self.dir_key(path)
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "Delimiter": "/"}
            if self.list_page_size is not None:
                kwargs["MaxKeys"] = self.list_page_size
            if token:
                kwargs["ContinuationToken"] = token
            page = self.call("list_objects_v2", path, **kwargs)
            objects = [(obj["Key"], False, obj) for obj in page.get("Contents") or ()]
            prefixes = [(cp["Prefix"], True, cp) for cp in page.get("CommonPrefixes") or ()]
            # Each list is in key order; together they are the page in key order.
            merged = sorted(
                objects + prefixes, key=lambda item: item[0].encode("utf-8", "surrogatepass")
            )
            for key, is_prefix, item in merged:
                name = key[len(prefix) :]
                if is_prefix:
                    name = name[:-1]
                if not name:
                    if is_prefix:
                        _log.warning("skipping a key with an empty path segment: %r", key)
                    continue  # the marker of the level itself
                child = join_path(path, name)
                if is_prefix:
                    yield True, Entry(child, _DIR)
                else:
                    yield (
                        False,
                        Entry(
                            child,
                            _FILE,
                            int(item.get("Size") or 0),
                            md5=etag_md5(item.get("ETag")),
                            etag=plain_etag(item.get("ETag")),
                            tier=item.get("StorageClass") or STANDARD,
                            **fields_from_metadata(None, last_modified_ns(item["LastModified"])),  # type: ignore[arg-type]
                        ),
                    )
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")
            if not token:
                raise StoreIOError(
                    f"the listing was cut short without a continuation: {path or '/'}"
                )

    def stat_file(self, path: str) -> Entry | None:
        if not path:
            return None
        head = self.head(self.key(path), path)
        return None if head is None else self._file_entry(path, head)

    def stat(self, path: str) -> Entry | None:
        if not path and not self.prefix:
            try:
                self.call("head_bucket", path, Bucket=self.bucket)
            except NotFound:
                return None
            return Entry("", _DIR)
        if path:
            found = self.stat_file(path)
            if found is not None:
                return found
        marker = self.dir_key(path)
        head = self.head(marker, path)
        if head is not None:
            return self._dir_entry(path, head)
        try:
            page = self.call("list_objects_v2", path, Bucket=self.bucket, Prefix=marker, MaxKeys=1)
        except NotFound:
            return None  # no bucket: nothing in it exists
        if page.get("KeyCount") or page.get("Contents"):
            return Entry(path, _DIR)
        if not path:
            # The root prefix names an object: the engine reports that it is not a directory.
            head = self.head(self.prefix, path)
            if head is not None:
                return self._file_entry(path, head)
        return None

    def open_read(self, path: str) -> ReadHandle:
        return ObjectReadHandle(path, self.stat_file, self.get_range)

    def get_range(self, path: str, etag: str | None, offset: int, length: int) -> bytes:
        from botocore.exceptions import BotoCoreError

        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self.key(path),
            "Range": f"bytes={offset}-{offset + length - 1}",
        }
        if etag:
            kwargs["IfMatch"] = f'"{etag}"'
        try:
            response = self.call("get_object", path, **kwargs)
        except StorageError as exc:
            raise self._read_error(exc, path) from exc
        body = response["Body"]
        try:
            data: bytes = body.read()
        except BotoCoreError as exc:
            raise map_error(exc, path) from exc
        finally:
            body.close()
        return data

    @staticmethod
    def _read_error(exc: StorageError, path: str) -> StorageError:
        if http_status(exc.__cause__) == 412 or isinstance(exc, NotFound):
            return SourceChanged(f"changed while it was read: {path}", path=path)
        return exc

    def hash_md5(self, path: str) -> str:
        entry = self.stat_file(path)
        if entry is None:
            raise NotFound(f"not found: {path}", path=path)
        if entry.md5 is not None:
            return entry.md5
        from botocore.exceptions import BotoCoreError

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key(path)}
        if entry.etag:
            kwargs["IfMatch"] = f'"{entry.etag}"'
        try:
            response = self.call("get_object", path, **kwargs)
        except StorageError as exc:
            raise self._read_error(exc, path) from exc
        digest = hashlib.md5(usedforsecurity=False)
        body = response["Body"]
        try:
            for chunk in body.iter_chunks(MIB):
                digest.update(chunk)
        except BotoCoreError as exc:
            raise map_error(exc, path) from exc
        finally:
            body.close()
        return digest.hexdigest()

    # -- writing -------------------------------------------------------------------------

    def ensure_root(self) -> None:
        try:
            self.call("head_bucket", "", Bucket=self.bucket)
        except NotFound:
            self._create_bucket()
        if self.prefix and self.stat("") is None:
            self.put_object(self.dir_key(""), b"", None, {FOLDER: "true"}, "")
        if not self._keeps_marker_metadata():
            self.capabilities = dataclasses.replace(self.capabilities, dir_times=False)

    def _keeps_marker_metadata(self) -> bool:
        """Whether the server keeps the user metadata of a ``dir/`` marker. S3 does;
        SeaweedFS turns such a key into a directory of its filer and drops the metadata."""
        probe = f"{self.dir_key('')}.ferry-probe-{secrets.token_hex(6)}/"
        self.put_object(probe, b"", None, {FOLDER: "true", MTIME: "1"}, "")
        try:
            head = self.head(probe, "")
        finally:
            with contextlib.suppress(StorageError):
                self.call("delete_object", "", Bucket=self.bucket, Key=probe)
        return head is not None and lower_keys(head.get("Metadata")).get(MTIME) == "1"

    def _create_bucket(self) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.call("create_bucket", "", **kwargs)
        except AlreadyExists as exc:
            if error_code(exc.__cause__) != "BucketAlreadyOwnedByYou":
                raise AlreadyExists(
                    f"the bucket name {self.bucket!r} is taken by another account", path=""
                ) from exc

    def begin_upload(self, source: Entry, part_size: int) -> Upload:
        return S3Upload(self, self.key(source.path), source, part_size)

    def put_object(
        self,
        key: str,
        body: bytes,
        digest: bytes | None,
        metadata: Mapping[str, str],
        path: str,
    ) -> str:
        digest = digest if digest is not None else hashlib.md5(body, usedforsecurity=False).digest()
        if self.fast is not None:
            etag = self.fast.put(key, body, digest, metadata)
            if etag is not None:
                return etag
        response = self.call(
            "put_object",
            path,
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentLength=len(body),
            ContentMD5=base64.b64encode(digest).decode("ascii"),
            Metadata=dict(metadata),
        )
        return str(response.get("ETag", ""))

    def pending_uploads(self, key: str, path: str) -> list[str]:
        """Upload ids of in-progress multipart uploads of exactly ``key``, newest first."""
        found: list[tuple[datetime.datetime, str]] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": key}
        while True:
            page = self.call("list_multipart_uploads", path, **kwargs)
            for upload in page.get("Uploads") or ():
                if upload.get("Key") == key:
                    found.append((upload["Initiated"], upload["UploadId"]))
            if not page.get("IsTruncated"):
                break
            kwargs["KeyMarker"] = page.get("NextKeyMarker")
            kwargs["UploadIdMarker"] = page.get("NextUploadIdMarker")
            if not kwargs["KeyMarker"] or kwargs["KeyMarker"] > key:
                break
        found.sort(key=lambda item: item[0], reverse=True)
        return [upload_id for _, upload_id in found]

    def list_parts(self, key: str, upload_id: str, path: str) -> dict[int, tuple[str, int]]:
        """Part number -> (ETag, size) of an in-progress multipart upload."""
        parts: dict[int, tuple[str, int]] = {}
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "UploadId": upload_id}
        while True:
            page = self.call("list_parts", path, **kwargs)
            for part in page.get("Parts") or ():
                parts[int(part["PartNumber"])] = (str(part["ETag"]), int(part["Size"]))
            if not page.get("IsTruncated"):
                return parts
            kwargs["PartNumberMarker"] = page.get("NextPartNumberMarker")

    def create_multipart(self, key: str, metadata: Mapping[str, str], path: str) -> str:
        response = self.call(
            "create_multipart_upload", path, Bucket=self.bucket, Key=key, Metadata=dict(metadata)
        )
        return str(response["UploadId"])

    def upload_part(
        self, key: str, upload_id: str, number: int, data: bytes, digest: bytes, path: str
    ) -> str:
        response = self.call(
            "upload_part",
            path,
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
            ContentLength=len(data),
            ContentMD5=base64.b64encode(digest).decode("ascii"),
        )
        return str(response["ETag"])

    def complete_multipart(
        self, key: str, upload_id: str, parts: list[dict[str, Any]], path: str
    ) -> str:
        response = self.call(
            "complete_multipart_upload",
            path,
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )
        return str(response.get("ETag", ""))

    def abort_multipart(self, key: str, upload_id: str, path: str) -> None:
        with contextlib.suppress(NotFound):
            self.call(
                "abort_multipart_upload", path, Bucket=self.bucket, Key=key, UploadId=upload_id
            )

    def copy_object(
        self,
        source: S3Store,
        source_key: str,
        key: str,
        size: int,
        etag: str,
        metadata: Mapping[str, str],
        headers: Mapping[str, Any],
        path: str,
    ) -> None:
        """Copy an object inside the service, with ``metadata`` replacing the source's, on
        condition that the source still has ``etag`` (412 -> SourceChanged)."""
        copy_source = {"Bucket": source.bucket, "Key": source_key}
        condition = f'"{plain_etag(etag)}"'
        try:
            if size <= COPY_OBJECT_LIMIT:
                self.call(
                    "copy_object",
                    path,
                    Bucket=self.bucket,
                    Key=key,
                    CopySource=copy_source,
                    CopySourceIfMatch=condition,
                    MetadataDirective="REPLACE",
                    Metadata=dict(metadata),
                    **headers,
                )
            else:
                self._copy_in_parts(copy_source, condition, key, size, metadata, headers, path)
        except StorageError as exc:
            if http_status(exc.__cause__) == 412 or error_code(exc.__cause__) == "NoSuchKey":
                raise SourceChanged(
                    f"the source changed or vanished before it was copied: {path}", path=path
                ) from exc
            raise

    def _copy_in_parts(
        self,
        copy_source: Mapping[str, str],
        condition: str,
        key: str,
        size: int,
        metadata: Mapping[str, str],
        headers: Mapping[str, Any],
        path: str,
    ) -> None:
        part = max(COPY_PART_SIZE, -(-size // MAX_PARTS))
        count = -(-size // part)
        upload_id = str(
            self.call(
                "create_multipart_upload",
                path,
                Bucket=self.bucket,
                Key=key,
                Metadata=dict(metadata),
                **headers,
            )["UploadId"]
        )

        def copy_part(index: int) -> dict[str, Any]:
            first = index * part
            last = min(size, first + part) - 1
            response = self.call(
                "upload_part_copy",
                path,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=index + 1,
                CopySource=copy_source,
                CopySourceIfMatch=condition,
                CopySourceRange=f"bytes={first}-{last}",
            )
            return {"PartNumber": index + 1, "ETag": response["CopyPartResult"]["ETag"]}

        try:
            with ThreadPoolExecutor(min(COPY_THREADS, count), "ferry-s3-copy") as pool:
                parts = list(pool.map(copy_part, range(count)))
            self.complete_multipart(key, upload_id, parts, path)
        except BaseException:
            with contextlib.suppress(StorageError):
                self.abort_multipart(key, upload_id, path)
            raise

    def replace_metadata(
        self,
        key: str,
        size: int,
        etag: str,
        metadata: Mapping[str, str],
        headers: Mapping[str, Any],
        path: str,
    ) -> None:
        """Rewrite an object's user metadata by copying it onto itself."""
        try:
            self.copy_object(self, key, key, size, etag, metadata, headers, path)
        except SourceChanged as exc:
            raise TransientIOError(
                f"changed while its metadata was set: {path}", path=path
            ) from exc

    def make_dir(self, path: str) -> None:
        marker = self.dir_key(path)
        if self.head(marker, path) is not None:
            return
        if path and self.head(self.key(path), path) is not None:
            raise AlreadyExists(f"a file is in the way of the directory: {path}", path=path)
        self.put_object(marker, b"", None, {FOLDER: "true"}, path)

    def set_metadata(self, source: Entry) -> None:
        if source.kind is _DIR:
            if not source.path and not self.prefix:
                return  # a bucket has no place for the root's times
            self.put_object(self.dir_key(source.path), b"", None, metadata_for(source), source.path)
            return
        key = self.key(source.path)
        head = self.head(key, source.path)
        if head is None:
            raise NotFound(f"not found: {source.path}", path=source.path)
        current = lower_keys(head.get("Metadata"))
        wanted = {k: v for k, v in current.items() if k not in FERRY_KEYS}
        md5 = stored_md5(current)
        wanted.update(metadata_for(source, md5))
        if wanted == current:
            return
        headers = {param: head[field] for field, param in _KEPT_HEADERS if head.get(field)}
        storage_class = head.get("StorageClass")
        if storage_class and storage_class != STANDARD:
            if storage_class in OFFLINE_TIERS:
                raise StoreIOError(
                    f"the object is in the {storage_class} storage class: {source.path}",
                    path=source.path,
                )
            headers["StorageClass"] = storage_class
        self.replace_metadata(
            key,
            int(head.get("ContentLength") or 0),
            str(head["ETag"]),
            wanted,
            headers,
            source.path,
        )

    def delete(self, path: str, *, is_dir: bool) -> None:
        if not is_dir:
            self.call("delete_object", path, Bucket=self.bucket, Key=self.key(path))
            return
        marker = self.dir_key(path)
        page = self.call("list_objects_v2", path, Bucket=self.bucket, Prefix=marker, MaxKeys=2)
        if any(obj["Key"] != marker for obj in page.get("Contents") or ()):
            raise DirectoryNotEmpty(f"directory not empty: {path}", path=path)
        self.call("delete_object", path, Bucket=self.bucket, Key=marker)

    def server_side_copy(self, source: Store, entry: Entry) -> bool:
        if (
            not isinstance(source, S3Store)
            or source.identity != self.identity
            or entry.kind is not _FILE
            or not entry.etag
            or entry.tier in OFFLINE_TIERS
        ):
            return False
        self.copy_object(
            source,
            source.key(entry.path),
            self.key(entry.path),
            entry.size,
            entry.etag,
            metadata_for(entry, entry.md5),
            {},
            entry.path,
        )
        return True

    def close(self) -> None:
        if self.fast is not None:
            self.fast.close()
        with contextlib.suppress(Exception):
            self.client.close()


__all__ = [
    "COPY_OBJECT_LIMIT",
    "S3Store",
    "S3Upload",
    "check_bucket_name",
    "choose_part_size",
    "map_error",
    "open_address",
    "parse_address",
]
