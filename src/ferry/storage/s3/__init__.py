"""The ``s3`` backend: Amazon S3 and S3-compatible services (:mod:`.store`)."""
