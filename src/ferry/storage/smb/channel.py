"""The store's SMB2 messages on the wire, without smbprotocol's per-message objects.

smbprotocol negotiates, logs on and connects the tree. For every message it sends and receives it
builds Structure objects (a header, a Request, an Event), and it verifies a reply's signature by
packing the header it has just unpacked: with four messages for every small file, that was most
of the client's CPU. Once the session is up, the store's requests are packed, signed, sent and
matched to their replies here instead, on smbprotocol's own socket and message ids:

* requests take their message ids from the connection's sequence window, under its lock, so
  they never collide with smbprotocol's own (echoes, keep-alives, log-off);
* smbprotocol's receiving thread reads every packet through :meth:`Channel.install`'s hook: a
  packet whose message ids are this channel's is verified (signature, or decryption on an
  encrypted session) and delivered here; any other goes on to smbprotocol as before.

Written by hand because no maintained Python library exposes SMB2 framing below smbprotocol's
object model; the message layouts are MS-SMB2 2.2.1.2 (header) and 2.2.41 (transform header).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM

HEADER = struct.Struct("<4sHHIHHIIQIIQ16s")
_TRANSFORM = struct.Struct("<4s16s16sIHHQ")
_PROTOCOL = b"\xfeSMB"
_TRANSFORM_PROTOCOL = b"\xfdSMB"
_NETBIOS = struct.Struct(">I")
_NO_SIGNATURE = bytes(16)

FLAG_ASYNC = 0x2
FLAG_RELATED = 0x4
FLAG_SIGNED = 0x8
FLAG_DFS = 0x10000000
STATUS_PENDING = 0x103
_UNSOLICITED = 0xFFFFFFFFFFFFFFFF  # oplock and lease breaks

# signing algorithms and ciphers as negotiated (MS-SMB2 2.2.3.1.7, 2.2.3.1.2)
_HMAC_SHA256, _AES_CMAC, _AES_GMAC = 0, 1, 2
_AES_128_CCM, _AES_128_GCM, _AES_256_CCM, _AES_256_GCM = 1, 2, 3, 4
_SMB_3_0_0, _SMB_3_1_1 = 0x300, 0x311

_CREDIT_PAYLOAD = 65_536

TRANSPORT_ERROR = -1  # a Reply status: no answer (connection lost, timeout)


class ChannelBroken(Exception):
    """The server's reply could not be trusted or understood; the connection is dropped."""


@dataclass(frozen=True, slots=True)
class Message:
    """One request: its command, its body after the header, and the bytes it sends or asks
    for (what its credit charge counts)."""

    command: int
    body: bytes
    payload: int = 1

    @property
    def charge(self) -> int:
        """Credits it costs (MS-SMB2 3.1.5.2)."""
        return (max(0, self.payload - 1) // _CREDIT_PAYLOAD) + 1


@dataclass(slots=True)
class Reply:
    status: int  # 0 on success, an NTSTATUS, or TRANSPORT_ERROR
    data: bytes  # the response body after the SMB2 header


_NO_REPLY = Reply(TRANSPORT_ERROR, b"")


class Exchange:
    """Requests sent in one go, and their replies as they arrive."""

    __slots__ = ("_done", "_left", "ids", "replies")

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        self.replies: list[Reply] = [_NO_REPLY] * len(ids)
        self._left = len(ids)
        self._done = threading.Lock()
        self._done.acquire()

    def _fill(self, index: int, reply: Reply) -> None:
        """Called with the channel's lock held, once per reply."""
        self.replies[index] = reply
        self._left -= 1
        if not self._left:
            self._done.release()

    def wait(self, timeout: float) -> bool:
        """True once every reply is in; False if ``timeout`` seconds passed first."""
        if self._done.acquire(timeout=timeout):
            self._done.release()
            return True
        return False


class _Signer:
    """Signs and verifies messages with the session's signing key."""

    def __init__(self, algorithm: int, key: bytes) -> None:
        self._algorithm = algorithm
        self._key = key
        self._cmac: cmac.CMAC | None = None
        self._gmac: AESGCM | None = None
        if algorithm == _AES_CMAC:
            self._cmac = cmac.CMAC(algorithms.AES(key))  # copied per message: no key schedule
        elif algorithm == _AES_GMAC:
            self._gmac = AESGCM(key)

    def signature(self, message: bytes, message_id: int, *, response: bool) -> bytes:
        """The signature of ``message``, whose signature field holds zeros."""
        if self._cmac is not None:
            mac = self._cmac.copy()
            mac.update(message)
            return mac.finalize()
        if self._gmac is not None:
            # an ordinary request or response: the cancel bit is never set here
            nonce = struct.pack("<QI", message_id, 1 if response else 0)
            return self._gmac.encrypt(nonce, b"", message)
        return hmac.new(self._key, message, hashlib.sha256).digest()[:16]


class _Sealer:
    """Encrypts requests and decrypts replies of an encrypted session or share."""

    def __init__(self, cipher: int, session_id: int, encrypt_key: bytes, decrypt_key: bytes):
        gcm = cipher in (_AES_128_GCM, _AES_256_GCM)
        aead: type[AESGCM] | type[AESCCM] = AESGCM if gcm else AESCCM
        self._nonce_length = 12 if gcm else 11
        self._session_id = session_id
        self._out = aead(encrypt_key)
        self._in = aead(decrypt_key)

    def seal(self, message: bytes) -> bytes:
        nonce = os.urandom(self._nonce_length)
        aad = _TRANSFORM.pack(
            _TRANSFORM_PROTOCOL,
            _NO_SIGNATURE,
            nonce.ljust(16, b"\0"),
            len(message),
            0,
            1,
            self._session_id,
        )[20:]
        sealed = self._out.encrypt(nonce, message, aad)
        return b"".join((_TRANSFORM_PROTOCOL, sealed[-16:], aad, sealed[:-16]))

    def unseal(self, packet: bytes) -> bytes:
        _, signature, nonce, _size, _, flags, session_id = _TRANSFORM.unpack_from(packet)
        if flags != 1 or session_id != self._session_id:
            raise ChannelBroken("an encrypted reply for another session or of an unknown kind")
        try:
            return self._in.decrypt(
                nonce[: self._nonce_length], packet[_TRANSFORM.size :] + signature, packet[20:52]
            )
        except Exception as exc:  # cryptography's InvalidTag
            raise ChannelBroken("an encrypted reply failed its integrity check") from exc


class Channel:
    """The store's requests on one smbprotocol connection, session and tree."""

    def __init__(self, connection: Any, session: Any, tree: Any) -> None:
        self._connection = connection
        self._window: dict[str, int] = connection.sequence_window
        self._window_lock: threading.Lock = connection.sequence_lock
        self._multi_credit = bool(connection.supports_multi_credit)
        self._session_id: int = session.session_id
        self._tree_id: int = tree.tree_connect_id
        self._flags = FLAG_DFS if tree.is_dfs_share else 0
        self._sealer: _Sealer | None = None
        self._signer: _Signer | None = None
        dialect = connection.dialect or 0
        if session.encrypt_data or tree.encrypt_data:
            cipher = connection.cipher_id if dialect >= _SMB_3_1_1 else _AES_128_CCM
            self._sealer = _Sealer(
                cipher, self._session_id, session.encryption_key, session.decryption_key
            )
        elif session.signing_required and session.signing_key:
            if dialect >= _SMB_3_1_1 and connection.signing_algorithm_id is not None:
                algorithm = connection.signing_algorithm_id
            else:
                algorithm = _AES_CMAC if dialect >= _SMB_3_0_0 else _HMAC_SHA256
            self._signer = _Signer(algorithm, session.signing_key)
            self._flags |= FLAG_SIGNED
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[Exchange, int]] = {}
        self.closed = False
        self.session_lost = False
        self._receive: Callable[[float], bytes | None] | None = None
        self._lost_statuses: frozenset[int] = frozenset()

    def install(self, lost_statuses: frozenset[int]) -> None:
        """Read smbprotocol's packets through this channel from its next receive on. Replies
        to requests sent before the hook is in place still reach smbprotocol: the caller
        makes one round trip of smbprotocol's own (an echo) before sending anything here."""
        transport = self._connection.transport
        self._receive = transport.recv
        self._lost_statuses = lost_statuses
        transport.recv = self._recv

    # -- sending ---------------------------------------------------------------------------

    def send(self, messages: Sequence[Message], *, related: bool) -> Exchange:
        """Send ``messages``, a compound when several (``related``: each one works on the
        handle the first opened). Raises OSError if the connection is gone."""
        charges = [m.charge if self._multi_credit else 0 for m in messages]
        with self._window_lock:
            low = self._window["low"]
            ids = []
            for charge in charges:
                ids.append(low)
                low += charge or 1
            self._window["low"] = low
        last = len(messages) - 1
        frames = bytearray()
        for index, message in enumerate(messages):
            start = len(frames)
            length = HEADER.size + len(message.body)
            padding = 0 if index == last else -length % 8
            flags = self._flags | (FLAG_RELATED if related and index else 0)
            frames += HEADER.pack(
                _PROTOCOL,
                HEADER.size,
                charges[index],
                0,
                message.command,
                charges[index] or 1,
                flags,
                0 if index == last else length + padding,
                ids[index],
                0,
                self._tree_id,
                self._session_id,
                _NO_SIGNATURE,
            )
            frames += message.body
            if padding:
                frames += bytes(padding)
            if self._signer is not None:
                frames[start + 48 : start + 64] = self._signer.signature(
                    bytes(memoryview(frames)[start:]), ids[index], response=False
                )
        exchange = Exchange(ids)
        with self._lock:
            for index, message_id in enumerate(ids):
                self._waiting[message_id] = (exchange, index)
        data = bytes(frames)
        if self._sealer is not None:
            data = self._sealer.seal(data)
        try:
            if self.closed:
                raise OSError("the SMB connection was closed")
            self._connection._check_worker_running()  # raises what killed smbprotocol's thread
            transport = self._connection.transport
            # smbprotocol's Tcp.send wraps every packet in a Structure: one write, same lock
            with transport._sock_lock:
                transport._sock.sendall(_NETBIOS.pack(len(data)) + data)
        except Exception:
            self._fail(ids)
            raise
        if self.closed:  # the receiving side stopped while this was sent: nothing will answer
            self._fail(ids)
        return exchange

    def give_up(self, exchange: Exchange) -> None:
        """Stop waiting for ``exchange``'s replies (timed out): they become TRANSPORT_ERROR."""
        self._fail(exchange.ids)

    # -- receiving (on smbprotocol's receiving thread) ---------------------------------------

    def _recv(self, timeout: float) -> bytes | None:
        assert self._receive is not None
        try:
            while True:
                packet = self._receive(timeout)
                if not packet:
                    self._close()
                    return packet
                if not self._take(packet):
                    return packet
        except TimeoutError:
            raise  # idle: smbprotocol sends its keep-alive echo
        except Exception:
            self._close()
            raise

    def _take(self, packet: bytes) -> bool:
        """Deliver ``packet`` if its replies are this channel's; False if they are not."""
        sealed = packet[:4] == _TRANSFORM_PROTOCOL
        data = self._sealer.unseal(packet) if sealed and self._sealer is not None else packet
        if sealed and data is packet:
            return False  # smbprotocol's own encrypted traffic
        if len(data) < HEADER.size or data[:4] != _PROTOCOL:
            return False
        (first_id,) = struct.unpack_from("<Q", data, 24)
        if first_id == _UNSOLICITED:
            return False
        if first_id not in self._waiting and first_id in self._connection.outstanding_requests:
            return False  # smbprotocol's (a reply to a request given up on is still this one's)
        offset = 0
        while True:
            fields = HEADER.unpack_from(data, offset)
            following = fields[7]
            end = offset + following if following else len(data)
            if end > len(data) or end < offset + HEADER.size:
                raise ChannelBroken("a compound reply with a bad next-command offset")
            self._deliver(data, offset, end, fields, sealed)
            if not following:
                return True
            offset = end

    def _deliver(
        self, data: bytes, start: int, end: int, fields: tuple[Any, ...], sealed: bool
    ) -> None:
        _, _, _, status, command, granted, flags, _, message_id, _, _, _, signature = fields
        if not granted and not self._multi_credit:
            granted = 1
        with self._window_lock:
            self._window["high"] += granted
        if status == STATUS_PENDING and flags & FLAG_ASYNC:
            return  # an interim reply: the final one follows with the same message id
        if self._signer is not None and not sealed:
            if not flags & FLAG_SIGNED:
                raise ChannelBroken(f"an unsigned reply on a signed session (command {command})")
            view = memoryview(data)  # one copy of the reply, its signature field zeroed
            message = b"".join((view[start : start + 48], _NO_SIGNATURE, view[start + 64 : end]))
            if not hmac.compare_digest(
                self._signer.signature(message, message_id, response=True), signature
            ):
                raise ChannelBroken("a reply's signature does not match")
        if status in self._lost_statuses:
            self.session_lost = True
        reply = Reply(status, data[start + HEADER.size : end])
        with self._lock:
            found = self._waiting.pop(message_id, None)
            if found is not None:
                found[0]._fill(found[1], reply)

    # -- failing -----------------------------------------------------------------------------

    def _fail(self, ids: Sequence[int]) -> None:
        with self._lock:
            for message_id in ids:
                found = self._waiting.pop(message_id, None)
                if found is not None:
                    found[0]._fill(found[1], _NO_REPLY)

    def _close(self) -> None:
        self.closed = True
        with self._lock:
            waiting = list(self._waiting.values())
            self._waiting.clear()
            for exchange, index in waiting:
                exchange._fill(index, _NO_REPLY)


__all__ = ["TRANSPORT_ERROR", "Channel", "ChannelBroken", "Exchange", "Message", "Reply"]
