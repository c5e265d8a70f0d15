"""The control plane (docs/design.md §6-§8): the Storage-Mover-compatible REST API, its database and auth.

``create_app(settings)`` builds the ASGI application; ``ferry server`` serves it with uvicorn.
"""

from ferry.control.app import create_app
from ferry.control.settings import Settings

__all__ = ["Settings", "create_app"]
