"""``ferry server``: the control plane on uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from ferry.control.app import create_app
from ferry.control.settings import Settings


def serve(settings: Settings, host: str, port: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
