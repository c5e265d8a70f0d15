"""The connection of the ``smb`` backend: one SMB 2/3 session per store, pipelined.

Each store has its own connection, session and tree connect (smbclient's connection cache is
process-wide, keyed by host and port only, and not locked), shared by every thread: requests are
multiplexed on it. smbclient's high-level file API sends one request and waits for its answer
before the next, so a directory of small files costs several round trips per file; here a caller
sends a whole compound request (open, read, query, close) or keeps several READs or WRITEs in
flight (:meth:`Session.submit` returns a :class:`Pending` whose replies are collected later), and
many threads share the one connection.

smbprotocol connects and logs on; the store's own requests then travel through
:mod:`ferry.storage.smb.channel`, which packs, signs and matches them without smbprotocol's
per-message objects. The server grants a window of credits, and a request beyond it is refused,
so every request first takes its credits from a gate sized to the window (raised with an echo
after connecting).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Sequence
from typing import Any

from smbclient._pool import delete_session, register_session, reset_connection_cache
from smbprotocol.exceptions import SMBAuthenticationError, SMBException, SMBResponseException
from smbprotocol.header import NtStatus
from smbprotocol.tree import TreeConnect

from ferry.storage.errors import NotFound, PermissionDenied, StoreIOError, TransientIOError
from ferry.storage.smb.address import PASSWORD_ENV, SmbAddress
from ferry.storage.smb.channel import TRANSPORT_ERROR, Channel, Exchange, Message, Reply
from ferry.storage.smb.requests import LOGON, SESSION_LOST, error_for, status_name

_CREDIT_TARGET = 2048
_CREDIT_RESERVE = 8  # smbprotocol's keep-alive echoes, cancels
_CONNECT_TIMEOUT = 30
_REQUEST_TIMEOUT = 300


class _Credits:
    """Credits of the connection's window not taken by requests in flight."""

    def __init__(self, total: int) -> None:
        self.total = max(1, total)
        self._free = self.total
        self._cond = threading.Condition()

    def take(self, wanted: int, *, block: bool = True, keep: int = 0) -> int:
        """Take ``wanted`` credits (at most the whole window); 0 if not blocking and short.
        ``keep``: take them only if that many would still be free (never blocks)."""
        wanted = min(max(1, wanted), self.total)
        with self._cond:
            if keep and self._free - wanted < keep:
                return 0
            while self._free < wanted:
                if not block:
                    return 0
                self._cond.wait()
            self._free -= wanted
        return wanted

    def give(self, count: int) -> None:
        with self._cond:
            self._free += count
            self._cond.notify_all()


class Pending:
    """Requests sent in one go whose replies have not been collected yet."""

    def __init__(self, session: Session, exchange: Exchange, credits: int) -> None:
        self._session = session
        self._exchange = exchange
        self._credits = credits
        self._replies: list[Reply] | None = None

    def replies(self) -> list[Reply]:
        if self._replies is None:
            session = self._session
            try:
                if not self._exchange.wait(_REQUEST_TIMEOUT):
                    session.channel.give_up(self._exchange)
                replies = self._exchange.replies
                if session.channel.session_lost or any(
                    reply.status == TRANSPORT_ERROR for reply in replies
                ):
                    session.broken = True
                self._replies = replies
            finally:
                session.credits.give(self._credits)
        return self._replies


class Session:
    """One connection, session and tree connect, and the credits of its window."""

    def __init__(self, connection: Any, channel: Channel, credits: _Credits) -> None:
        self.connection = connection
        self.channel = channel
        self.credits = credits
        self.broken = False
        self._deferred: queue.SimpleQueue[Pending | None] | None = None
        self._deferred_lock = threading.Lock()

    @property
    def alive(self) -> bool:
        worker = getattr(self.connection, "_t_worker", None)
        return (
            not self.broken
            and not self.channel.closed
            and self.connection.transport.connected
            and (worker is None or worker.is_alive())
        )

    def submit(
        self,
        messages: Sequence[Message],
        *,
        related: bool = True,
        block: bool = True,
        keep: int = 0,
    ) -> Pending | None:
        """Send ``messages`` (a compound when several); None if not blocking and short of
        credits (or if fewer than ``keep`` would be left)."""
        cost = sum(message.charge for message in messages)
        taken = self.credits.take(cost, block=block, keep=keep)
        if not taken:
            return None
        try:
            exchange = self.channel.send(messages, related=related)
        except (SMBException, OSError, ValueError) as exc:
            self.credits.give(taken)
            self.broken = True
            raise TransientIOError(f"SMB connection lost: {exc}") from exc
        return Pending(self, exchange, taken)

    def defer(self, messages: Sequence[Message]) -> None:
        """Send ``messages`` and let a helper thread collect the replies (for closes nobody
        needs to wait for)."""
        pending = self.submit(messages)
        assert pending is not None
        with self._deferred_lock:
            if self._deferred is None:
                self._deferred = queue.SimpleQueue()
                threading.Thread(
                    target=_collect, args=(self._deferred,), name="ferry-smb-replies", daemon=True
                ).start()
            self._deferred.put(pending)

    def stop(self) -> None:
        with self._deferred_lock:
            if self._deferred is not None:
                self._deferred.put(None)
                self._deferred = None

    def run(self, messages: Sequence[Message], *, related: bool = True) -> list[Reply]:
        pending = self.submit(messages, related=related)
        assert pending is not None
        return pending.replies()


def _collect(replies: queue.SimpleQueue[Pending | None]) -> None:
    while (pending := replies.get()) is not None:
        pending.replies()


class Link:
    """Opens the store's session on first use and again after the connection was lost."""

    def __init__(self, address: SmbAddress, password: str) -> None:
        self._address = address
        self._password = password
        self._lock = threading.Lock()
        self._cache: dict[str, Any] = {}  # this store's own smbclient connection cache
        self._current: Session | None = None
        self._closed = False
        # A refused logon is not tried again: retries could lock the account out.
        self._refused: PermissionDenied | None = None

    def session(self) -> Session:
        current = self._current
        if current is not None and current.alive:
            return current
        with self._lock:
            if self._closed:
                raise StoreIOError(f"the store was closed: {self._address.url}")
            if self._refused is not None:
                raise PermissionDenied(str(self._refused))
            current = self._current
            if current is not None and current.alive:
                return current
            if current is not None:
                self._drop()
            self._current = self._connect()
            return self._current

    def _connect(self) -> Session:
        a = self._address
        where = f"{a.host}:{a.port}"
        try:
            session = register_session(
                a.host,
                username=a.user,
                password=self._password,
                port=a.port,
                connection_cache=self._cache,
                connection_timeout=_CONNECT_TIMEOUT,
            )
        except SMBAuthenticationError as exc:
            raise self._logon_failure(str(exc)) from None
        except SMBResponseException as exc:
            if exc.status in LOGON or exc.status == NtStatus.STATUS_ACCESS_DENIED:
                raise self._logon_failure(status_name(exc.status)) from None
            raise error_for(exc.status, "", f"logging on to {where}") from None
        except (SMBException, OSError, ValueError) as exc:
            self._drop()
            raise TransientIOError(f"cannot connect to SMB server {where}: {exc}") from None
        try:
            share = f"\\\\{a.host}\\{a.share}"
            tree = next(
                (t for t in session.tree_connect_table.values() if t.share_name == share), None
            )
            if tree is None:
                tree = TreeConnect(session, share)
                tree.connect()
            channel = Channel(session.connection, session, tree)
            channel.install(frozenset(SESSION_LOST))
            credits = self._raise_credits(session)  # its echo also puts the channel in place
        except SMBResponseException as exc:
            self._drop()
            if exc.status == NtStatus.STATUS_BAD_NETWORK_NAME:
                raise NotFound(f"no share {a.share!r} on {where}") from None
            raise error_for(exc.status, "", f"connecting to share {a.share!r} on") from None
        except (SMBException, OSError, ValueError) as exc:
            self._drop()
            raise TransientIOError(
                f"cannot connect to SMB share {a.share!r} on {where}: {exc}"
            ) from None
        return Session(session.connection, channel, credits)

    def _logon_failure(self, reason: str) -> PermissionDenied:
        a = self._address
        self._drop()
        self._refused = PermissionDenied(
            f"logon failure: {a.host}:{a.port} refused user {a.user!r} ({reason}); check the user "
            f"in the address and the password in {PASSWORD_ENV}"
        )
        return self._refused

    @staticmethod
    def _raise_credits(session: Any) -> _Credits:
        """Ask for a credit window wide enough for many threads; the server may grant less."""
        connection = session.connection
        window = connection.sequence_window
        size = window["high"] - window["low"]
        for attempt in range(4):
            if attempt and size >= _CREDIT_TARGET:
                break
            connection.echo(
                sid=session.session_id,
                timeout=_CONNECT_TIMEOUT,
                credit_request=max(1, min(8192, _CREDIT_TARGET - size + 1)),
            )
            grown = window["high"] - window["low"]
            if grown <= size:
                break
            size = grown
        return _Credits(size - _CREDIT_RESERVE)

    def _drop(self) -> None:
        if self._current is not None:
            self._current.stop()
        self._current = None
        with contextlib.suppress(Exception):
            delete_session(
                self._address.host, port=self._address.port, connection_cache=self._cache, timeout=5
            )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._current is not None:
                self._current.stop()
            self._current = None
            with contextlib.suppress(Exception):
                reset_connection_cache(fail_on_error=False, connection_cache=self._cache)


__all__ = ["Link", "Pending", "Session"]
