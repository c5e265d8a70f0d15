"""The ``smb`` backend: a directory of an SMB 2/3 share (:mod:`.store`)."""
