"""S3's limits (part sizes and counts, the largest single copy) and the sizes Ferry picks
within them, for the store, the upload and the client."""

from __future__ import annotations

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

MIN_PART_SIZE = 5 * MIB
"""The smallest part S3 accepts (every part but the last)."""
MAX_PART_SIZE = 5 * GIB
MAX_PARTS = 10_000
PART_SIZE_CAP = 16 * MIB
"""Parts are held in memory while they are sent (Content-MD5 precedes the body): above this
the store picks smaller parts than the engine asks for, unless the file needs bigger ones."""
COPY_OBJECT_LIMIT = 5 * GIB
"""The largest object one CopyObject can copy; above it, UploadPartCopy."""
COPY_PART_SIZE = 512 * MIB
COPY_THREADS = 8
POOL_CONNECTIONS = 48
"""Connections kept per store: 8 checkers plus up to 16 transfers with 4 streams each
share one client."""

STANDARD = "STANDARD"
"""The storage class of an object that reports none."""
