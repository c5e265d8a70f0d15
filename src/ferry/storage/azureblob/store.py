"""The ``azureblob`` backend: Azure Blob Storage block blobs, through azure-storage-blob.

Addresses and credentials: :mod:`.address`; writes: :mod:`.upload`; errors: :mod:`.errors`.

Layout (docs/design.md §3.6, :mod:`ferry.storage.objects`):

- a file is a block blob ``PREFIX/PATH`` whose user metadata records the source's times,
  mode and owner; its content MD5 is the blob's own Content-MD5 property;
- a directory is a zero-length marker blob ``PREFIX/PATH`` (no trailing slash) with
  ``hdi_isfolder=true`` and the directory's recorded times; a prefix without a marker is a
  directory too. The root of a prefix gets a marker when it is created.

Listings carry the metadata (``include=metadata``) and each blob's Content-MD5 and access
tier; a blob in the Archive tier is reported with ``tier="Archive"`` and the engine leaves it
alone (Ferry does not rehydrate).

Writes: a file of one part is sent with one Put Blob carrying its metadata and Content-MD5
(the service checks the bytes). A bigger file is staged with Put Block, in parallel, each
block with a transactional MD5, and made visible by Put Block List with the metadata and the
whole file's Content-MD5. Block ids derive from the source's path, size, times and the part
size, so an interrupted upload of the same source version resumes from the blob's
uncommitted blocks; a changed source gets other ids and starts over. Uncommitted blocks are
invisible, and Azure drops them after a week.

Server-side copy between any two Azure Blob locations (also across accounts) is Copy Blob
from a short-lived read-only SAS URL of the source, conditional on the source's ETag.
"""

from __future__ import annotations

import binascii
import contextlib
import datetime
import hashlib
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from ferry.storage.azureblob.address import Location, parse_address, redact, sas_permissions
from ferry.storage.azureblob.errors import azure_errors, error_code, map_error
from ferry.storage.azureblob.fast import FastPut
from ferry.storage.azureblob.upload import (
    MAX_BLOCK_SIZE,
    MIB,
    PART_SIZE_CAP,
    AzureUpload,
    block_ids,
    choose_part_size,
)
from ferry.storage.base import Capabilities, ReadHandle, Store, Upload
from ferry.storage.entry import Entry, EntryKind, join_path
from ferry.storage.errors import (
    AlreadyExists,
    DirectoryNotEmpty,
    InvalidAddress,
    NotADirectory,
    NotFound,
    PermissionDenied,
    SourceChanged,
    StorageError,
    StoreIOError,
    TransientIOError,
)
from ferry.storage.naming import BLOB
from ferry.storage.object_io import ObjectReadHandle
from ferry.storage.objects import (
    FERRY_KEYS,
    FOLDER,
    OFFLINE_TIERS,
    fields_from_metadata,
    folder_prefix,
    in_name_order,
    is_folder_marker,
    last_modified_ns,
    lower_keys,
    md5_hex,
    metadata_for,
    object_key,
    stored_md5,
)

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient, BlobProperties, ContainerClient

_log = logging.getLogger(__name__)

POOL_CONNECTIONS = 64
"""Connections kept per store: the engine's checkers and transfers (with their parallel
parts) share one client."""
FAST_PUT_LIMIT = 4 * 1024 * 1024
"""Single Put Blobs up to this size go the lean way (:mod:`.fast`)."""
COPY_SAS_LIFETIME = datetime.timedelta(hours=1)
COPY_POLL_MAX = 5.0

_FILE, _DIR = EntryKind.FILE, EntryKind.DIR


def _tier(props: Any) -> str | None:
    tier = getattr(props, "blob_tier", None)
    if tier is None:
        return None
    return str(getattr(tier, "value", tier))


# --------------------------------------------------------------------------------------------
# The store


class AzureBlobStore(Store):
    """A prefix of an Azure Blob container (or the whole container)."""

    naming = BLOB
    list_page_size: int | None = None  # names per listing page; None: the service's (5,000)

    def __init__(
        self, container: ContainerClient, location: Location, fast: FastPut | None = None
    ) -> None:
        self.container = container
        self.fast = fast
        self.location = location
        self.account = location.account
        self.container_name = location.container
        self.prefix = location.prefix
        self.naming = BLOB.below(self.prefix)  # the service limits whole keys
        self.url = location.shown
        self._no_resume: set[str] = set()
        self._lock = threading.Lock()
        self.capabilities = Capabilities(
            posix_metadata=True,
            set_owner=True,
            mtime_precision_ns=1,
            case_insensitive=False,
            server_side_copy=True,
            listing_metadata=True,
        )

    def __repr__(self) -> str:
        return f"AzureBlobStore({self.url!r})"

    # -- keys and calls ------------------------------------------------------------------

    def key(self, path: str) -> str:
        """The blob name of ``path`` ('' is the root prefix itself, or '' for a container)."""
        return object_key(self.prefix, path, "container")

    def list_prefix(self, path: str) -> str:
        """The name prefix of the items of directory ``path``."""
        return folder_prefix(self.key(path))

    def blob(self, key: str) -> BlobClient:
        return self.container.get_blob_client(key)

    def call(self, path: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        """``function(*args, **kwargs)`` with its errors mapped to storage errors."""
        try:
            return function(*args, **kwargs)
        except azure_errors() as exc:
            raise map_error(exc, path) from exc

    def properties(self, key: str, path: str) -> BlobProperties | None:
        """The properties of blob ``key``; None when there is no such blob."""
        try:
            props: BlobProperties = self.call(path, self.blob(key).get_blob_properties)
        except NotFound:
            return None
        return props

    # -- entries -------------------------------------------------------------------------

    def _entry(self, path: str, props: Any) -> Entry:
        metadata = props.metadata or {}
        last = last_modified_ns(props.last_modified)
        if is_folder_marker(metadata):
            return Entry(
                path,
                _DIR,
                etag=props.etag,
                **fields_from_metadata(metadata, last),  # type: ignore[arg-type]
            )
        settings = props.content_settings
        md5 = md5_hex(getattr(settings, "content_md5", None)) or stored_md5(metadata)
        return Entry(
            path,
            _FILE,
            int(props.size or 0),
            md5=md5,
            etag=props.etag,
            tier=_tier(props),
            **fields_from_metadata(metadata, last),  # type: ignore[arg-type]
        )

    # -- reading -------------------------------------------------------------------------

    def list_dir(self, path: str, partials: list[str] | None = None) -> Iterator[Entry]:
        # Uncommitted blocks are invisible: there are no partial items to report.
        return in_name_order(self._listing(path))

    def _listing(self, path: str) -> Iterator[tuple[bool, Entry]]:
        from azure.storage.blob import BlobPrefix

        prefix = self.list_prefix(path)
        pages = self.call(
            path,
            self.container.walk_blobs,
            name_starts_with=prefix or None,
            include=["metadata"],
            delimiter="/",
            results_per_page=self.list_page_size,
        ).by_page()
        while True:
            try:
                page = list(next(pages))
            except StopIteration:
                return
            except azure_errors() as exc:
                if isinstance(map_error(exc, path), NotFound):
                    return  # no container: nothing in it
                raise map_error(exc, path) from exc
            # The SDK hands out a page's prefixes before its blobs: merge them by name.
            page.sort(key=lambda item: str(item.name).encode("utf-8", "surrogatepass"))
            for item in page:
                name = str(item.name)[len(prefix) :]
                is_prefix = isinstance(item, BlobPrefix)
                if is_prefix:
                    name = name[:-1]
                if not name or "/" in name:
                    if name:
                        _log.warning("skipping a blob with an odd name: %r", item.name)
                    continue
                child = join_path(path, name)
                if is_prefix:
                    yield True, Entry(child, _DIR)
                else:
                    yield False, self._entry(child, item)

    def stat_file(self, path: str) -> Entry | None:
        """The file at ``path``; None when there is none (a directory marker is no file)."""
        if not path:
            return None
        props = self.properties(self.key(path), path)
        if props is None:
            return None
        entry = self._entry(path, props)
        if entry.kind is _DIR:
            raise StoreIOError(f"a directory, not a file: {path}", path=path)
        return entry

    def _has_children(self, path: str) -> bool:
        prefix = self.list_prefix(path)
        pages = self.call(
            path, self.container.list_blob_names, name_starts_with=prefix or None
        ).by_page()
        try:
            first = self.call(path, next, pages, None)
        except NotFound:
            return False
        return first is not None and any(True for _ in first)

    def stat(self, path: str) -> Entry | None:
        if not path and not self.prefix:
            try:
                self.call(path, self.container.get_container_properties)
            except NotFound:
                return None
            except PermissionDenied:
                # a container SAS may not read the container's properties, but it lists
                first = self.call(path, self.container.list_blobs, results_per_page=1)
                self.call(path, lambda: next(iter(first.by_page()), None))
            return Entry("", _DIR)
        props = self.properties(self.key(path), path)
        if props is not None:
            return self._entry(path, props)
        try:
            if self._has_children(path):
                return Entry(path, _DIR)
        except NotFound:
            return None
        return None

    def open_read(self, path: str) -> ReadHandle:
        return ObjectReadHandle(path, self.stat_file, self.get_range)

    def get_range(self, path: str, etag: str | None, offset: int, length: int) -> bytes:
        from azure.core import MatchConditions

        kwargs: dict[str, Any] = {"offset": offset, "length": length, "max_concurrency": 1}
        if etag:
            kwargs["etag"] = etag
            kwargs["match_condition"] = MatchConditions.IfNotModified
        try:
            downloader = self.call(path, self.blob(self.key(path)).download_blob, **kwargs)
            data: bytes = self.call(path, downloader.readall)
        except (NotFound, SourceChanged) as exc:
            raise SourceChanged(f"changed while it was read: {path}", path=path) from exc
        return data

    def hash_md5(self, path: str) -> str:
        entry = self.stat_file(path)
        if entry is None:
            raise NotFound(f"not found: {path}", path=path)
        if entry.md5 is not None:
            return entry.md5
        digest = hashlib.md5(usedforsecurity=False)
        offset = 0
        while offset < entry.size:
            chunk = self.get_range(path, entry.etag, offset, min(8 * MIB, entry.size - offset))
            if not chunk:
                raise SourceChanged(f"changed while it was read: {path}", path=path)
            digest.update(chunk)
            offset += len(chunk)
        return digest.hexdigest()

    # -- writing -------------------------------------------------------------------------

    def ensure_root(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        try:
            self.container.create_container()
        except ResourceExistsError:
            pass
        except azure_errors() as exc:
            mapped = map_error(exc, "")
            # A SAS limited to blobs cannot create (or even look at) the container; its
            # blobs may still be usable.
            if not isinstance(mapped, PermissionDenied):
                raise mapped from exc
        if self.prefix and self.stat("") is None:
            self.put_blob(self.prefix, b"", None, {FOLDER: "true"}, "")

    def begin_upload(self, source: Entry, part_size: int) -> Upload:
        return AzureUpload(self, self.key(source.path), source, part_size)

    def may_resume(self, key: str) -> bool:
        with self._lock:
            if key in self._no_resume:
                self._no_resume.discard(key)
                return False
        return True

    def forbid_resume(self, key: str) -> None:
        with self._lock:
            self._no_resume.add(key)

    def put_blob(
        self,
        key: str,
        body: bytes,
        digest: bytes | None,
        metadata: Mapping[str, str],
        path: str,
        *,
        overwrite: bool = True,
    ) -> None:
        """One Put Blob: ``body`` with its metadata and Content-MD5 (checked by the service).
        Without ``overwrite`` an existing blob stays and AlreadyExists is raised."""
        from azure.storage.blob import BlobType, ContentSettings

        digest = digest if digest is not None else hashlib.md5(body, usedforsecurity=False).digest()
        if self.fast is not None and len(body) <= FAST_PUT_LIMIT:
            done = self.fast.put(key, body, digest, metadata, overwrite=overwrite)
            if done:
                return
            if done is None:
                raise AlreadyExists(f"already exists: {path}", path=path)
        self.call(
            path,
            self.blob(key).upload_blob,
            body,
            blob_type=BlobType.BLOCKBLOB,
            length=len(body),
            metadata=dict(metadata),
            content_settings=ContentSettings(
                content_type="application/octet-stream", content_md5=bytearray(digest)
            ),
            transactional_content_md5=digest,
            overwrite=overwrite,
            max_concurrency=1,
        )

    def stage_block(self, key: str, block_id: str, data: bytes, digest: bytes, path: str) -> None:
        self.call(
            path,
            self.blob(key).stage_block,
            block_id,
            data,
            length=len(data),
            transactional_content_md5=digest,
        )

    def uncommitted_blocks(self, key: str, path: str) -> dict[str, int]:
        """Id -> size of the blob's uncommitted blocks (none when there is no blob)."""
        try:
            _, uncommitted = self.call(path, self.blob(key).get_block_list, "uncommitted")
        except NotFound:
            return {}
        return {str(block.id): int(block.size or 0) for block in uncommitted}

    def commit_blocks(
        self,
        key: str,
        ids: list[str],
        md5: bytes | None,
        metadata: Mapping[str, str],
        path: str,
    ) -> None:
        from azure.storage.blob import BlobBlock, BlockState, ContentSettings

        self.call(
            path,
            self.blob(key).commit_block_list,
            [BlobBlock(block_id, BlockState.LATEST) for block_id in ids],
            content_settings=ContentSettings(
                content_type="application/octet-stream",
                content_md5=None if md5 is None else bytearray(md5),
            ),
            metadata=dict(metadata),
        )

    def make_dir(self, path: str) -> None:
        key = self.key(path)
        if not key:
            return  # the container itself
        try:
            # One request when the directory is new: create the marker unless a blob is there.
            self.put_blob(key, b"", None, {FOLDER: "true"}, path, overwrite=False)
            return
        except (AlreadyExists, SourceChanged):
            pass
        props = self.properties(key, path)
        if props is not None and not is_folder_marker(props.metadata):
            raise AlreadyExists(f"a file is in the way of the directory: {path}", path=path)

    def set_metadata(self, source: Entry) -> None:
        if source.kind is _DIR:
            key = self.key(source.path)
            if not key:
                return  # a container has no place for the root's times
            props = self.properties(key, source.path)
            if props is not None and not is_folder_marker(props.metadata):
                raise NotADirectory(f"a file, not a directory: {source.path}", path=source.path)
            self.put_blob(key, b"", None, metadata_for(source), source.path)
            return
        key = self.key(source.path)
        props = self.properties(key, source.path)
        if props is None:
            raise NotFound(f"not found: {source.path}", path=source.path)
        current = lower_keys(props.metadata)
        wanted = {k: v for k, v in current.items() if k not in FERRY_KEYS}
        wanted.update(metadata_for(source, stored_md5(current)))
        if wanted == current:
            return
        from azure.core import MatchConditions

        try:
            self.call(
                source.path,
                self.blob(key).set_blob_metadata,
                wanted,
                etag=props.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except SourceChanged as exc:
            raise TransientIOError(
                f"changed while its metadata was set: {source.path}", path=source.path
            ) from exc

    def delete(self, path: str, *, is_dir: bool) -> None:
        key = self.key(path)
        if not is_dir:
            self.call(path, self.blob(key).delete_blob, delete_snapshots="include")
            return
        if self._has_children(path):
            raise DirectoryNotEmpty(f"directory not empty: {path}", path=path)
        if key:
            with contextlib.suppress(NotFound):  # a directory without a marker
                self.call(path, self.blob(key).delete_blob)

    # -- server-side copy ----------------------------------------------------------------

    def read_sas(self, key: str) -> str | None:
        """A query string that lets anyone read blob ``key`` for a while, or None."""
        location = self.location
        if location.key is not None:
            from azure.storage.blob import BlobSasPermissions, generate_blob_sas

            now = datetime.datetime.now(datetime.UTC)
            return generate_blob_sas(
                location.account,
                location.container,
                key,
                account_key=location.key,
                permission=BlobSasPermissions(read=True),
                start=now - datetime.timedelta(minutes=5),
                expiry=now + COPY_SAS_LIFETIME,
            )
        if location.sas is None:
            return None
        permissions = sas_permissions(location.sas)
        # A SAS naming a stored access policy (si=) may carry no sp=: the policy holds the
        # permissions. Try it; a source the service cannot read falls back to streaming.
        policy = parse_qs(location.sas.lstrip("?")).get("si")
        if "r" in permissions or (not permissions and policy):
            return location.sas
        return None

    def blob_url(self, key: str) -> str:
        return str(self.blob(key).url).partition("?")[0]

    def server_side_copy(self, source: Store, entry: Entry) -> bool:
        if (
            not isinstance(source, AzureBlobStore)
            or entry.kind is not _FILE
            or not entry.etag
            or entry.tier in OFFLINE_TIERS
        ):
            return False
        source_key = source.key(entry.path)
        sas = source.read_sas(source_key)
        if sas is None:
            return False
        from azure.core import MatchConditions

        path = entry.path
        target = self.blob(self.key(path))
        try:
            started = self.call(
                path,
                target.start_copy_from_url,
                f"{source.blob_url(source_key)}?{sas}",
                metadata=metadata_for(entry),
                source_etag=entry.etag,
                source_match_condition=MatchConditions.IfNotModified,
            )
        except StorageError as exc:
            cause = exc.__cause__
            code = error_code(cause) if cause is not None else ""
            if code == "CannotVerifyCopySource" and isinstance(exc, PermissionDenied):
                # The service may not reach the source (a firewall, a SAS bound to an IP):
                # the engine streams the data instead.
                _log.debug("the service cannot read the source of %s; streaming it", path)
                return False
            if isinstance(exc, SourceChanged | NotFound) and code != "ContainerNotFound":
                raise SourceChanged(
                    f"the source changed or vanished before it was copied: {path}", path=path
                ) from exc
            raise
        status = str(started.get("copy_status") or "")
        copy_id = started.get("copy_id")
        delay = 0.1
        while status == "pending":
            time.sleep(delay)
            delay = min(delay * 2, COPY_POLL_MAX)
            props = self.call(path, target.get_blob_properties)
            status = str(props.copy.status or "")
            if props.copy.id != copy_id:
                raise TransientIOError(f"another copy replaced this one: {path}", path=path)
        if status != "success":
            raise StoreIOError(
                f"the service's copy ended with status {status!r}: {path}", path=path
            )
        return True

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.container.close()
        if self.fast is not None:
            with contextlib.suppress(Exception):
                self.fast.close()


# --------------------------------------------------------------------------------------------
# Opening


def _transport(account_url: str) -> Any:
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from urllib3.util.retry import Retry

    session = requests.Session()
    # The proxy settings of the environment are read once, not on every request (that read
    # walks the whole environment each time, a good part of a small request's CPU time).
    session.proxies = requests.utils.get_environ_proxies(account_url)
    session.trust_env = False
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=4,
        pool_maxsize=POOL_CONNECTIONS,
        max_retries=Retry(total=False, redirect=False, raise_on_status=False),
    )
    for scheme in ("http://", "https://"):
        session.mount(scheme, adapter)
    return RequestsTransport(
        session=session,
        session_owner=True,
        use_env_settings=False,
        connection_timeout=10,
        read_timeout=120,
    )


def open_location(location: Location) -> AzureBlobStore:
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.storage.blob import ContainerClient, LinearRetry

    credential: Any
    if location.key is not None:
        credential = AzureNamedKeyCredential(location.account, location.key)
    else:
        credential = location.sas
    # The engine retries with backoff and reports throttling; one quick retry here covers a
    # connection the service closed while idle.
    retry = LinearRetry(backoff=1, random_jitter_range=1, retry_total=1)
    try:
        client = ContainerClient(
            location.account_url,
            location.container,
            credential=credential,
            transport=_transport(location.account_url),
            retry_policy=retry,
            max_single_put_size=MAX_BLOCK_SIZE,
            max_block_size=PART_SIZE_CAP,
            max_single_get_size=PART_SIZE_CAP,
            max_chunk_get_size=PART_SIZE_CAP,
        )
    except (ValueError, binascii.Error) as exc:
        raise InvalidAddress(
            f"cannot use the Azure credentials for {location.shown}: "
            f"{redact(str(exc)).splitlines()[0] if str(exc) else exc.__class__.__name__}"
        ) from None
    return AzureBlobStore(client, location, _fast_put(location, str(client.api_version)))


def _fast_put(location: Location, api_version: str) -> FastPut | None:
    """The lean Put Blob of small files, unless a proxy is configured (the SDK handles
    those)."""
    import requests

    if requests.utils.get_environ_proxies(location.account_url):
        return None
    fast = FastPut(
        account=location.account,
        account_url=location.account_url,
        container=location.container,
        api_version=api_version,
        key=location.key,
        sas=location.sas,
        user_agent="ferry",
    )
    return fast if fast.enabled else None


def open_address(address: str, env: Mapping[str, str]) -> AzureBlobStore:
    """Open ``az://CONTAINER/PREFIX`` or an https:// (or path-style http://) blob URL with the
    credentials of ``env`` (AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY) or of the
    SAS in the URL."""
    return open_location(parse_address(address, env))


__all__ = [
    "AzureBlobStore",
    "AzureUpload",
    "block_ids",
    "choose_part_size",
    "map_error",
    "open_address",
    "open_location",
]
