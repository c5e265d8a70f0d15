"""The ``azureblob`` backend: Azure Blob Storage block blobs (:mod:`.store`)."""
