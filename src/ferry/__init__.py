"""Ferry: storage migration between NAS shares, Azure Blob and S3 that loses nothing."""

__version__ = "0.1.0"
