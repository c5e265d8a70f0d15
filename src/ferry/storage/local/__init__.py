"""The ``local`` backend: local disks and NFS/SMB mounts (:mod:`.store`)."""
