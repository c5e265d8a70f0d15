"""The server's TLS material when the operator brings none: a private certificate authority
made once per data directory, and a server certificate it signs for the names and addresses
the server answers on, made again when those change or it nears its end. Keys are written
0600 in ``<data-dir>/tls/`` (0700); clients trust the CA file, whose SHA-256 fingerprint the
server prints so that it can be checked out of band."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ferry.private_files import write_private

TLS_DIR = "tls"
CA_CERT, CA_KEY = "ca.pem", "ca.key"
SERVER_CERT, SERVER_KEY = "server.pem", "server.key"
CA_DAYS = 3650
SERVER_DAYS = 397  # what browsers accept for a leaf certificate
RENEW_BEFORE = dt.timedelta(days=30)
WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # noqa: S104 - names of "every address", not a bind


class TlsError(Exception):
    """The TLS files cannot be used; the message says what to do."""


@dataclass(frozen=True)
class TlsFiles:
    cert: Path  # the server certificate (chain)
    key: Path
    ca: Path | None  # the CA clients should trust; None for an operator's own certificate

    def fingerprint(self) -> str:
        """SHA-256 of the certificate clients should trust (the CA's, else the server's)."""
        return fingerprint(self.ca or self.cert)


def fingerprint(cert_file: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def server_names(host: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The names and addresses a server listening on ``host`` is reached by: the host itself,
    or for every address the machine's names and loopback, and ``extra``."""
    names = ["localhost", "127.0.0.1", "::1"]
    if host in WILDCARD_HOSTS:
        names += [socket.gethostname(), socket.getfqdn()]
    else:
        names.append(host)
    names += list(extra)
    return sorted({name.strip("[]").lower() for name in names if name})


def own_certificate(cert: Path, key: Path) -> TlsFiles:
    """An operator's certificate and key, checked to be readable and to belong together."""
    try:
        certificate = x509.load_pem_x509_certificate(cert.read_bytes())
        private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise TlsError(f"cannot use --tls-cert {cert} / --tls-key {key}: {exc}") from None
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if public != certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise TlsError(f"--tls-key {key} is not the key of the certificate in {cert}")
    if certificate.not_valid_after_utc <= dt.datetime.now(dt.UTC):
        raise TlsError(
            f"the certificate in {cert} expired on {certificate.not_valid_after_utc:%Y-%m-%d}; "
            "give a current one"
        )
    return TlsFiles(cert, key, None)


def ensure_server_tls(data_dir: Path, names: list[str]) -> TlsFiles:
    """The CA (made on first use) and a current server certificate for ``names``."""
    directory = data_dir / TLS_DIR
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    ca_cert, ca_key = directory / CA_CERT, directory / CA_KEY
    if not (ca_cert.exists() and ca_key.exists()):
        _make_ca(ca_cert, ca_key)
    cert, key = directory / SERVER_CERT, directory / SERVER_KEY
    if not _current(cert, key, names):
        _make_server_certificate(ca_cert, ca_key, cert, key, names)
    return TlsFiles(cert, key, ca_cert)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private(path, pem)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    temp = path.with_name(path.name + ".new")
    temp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(temp, path)


def _make_ca(cert_path: Path, key_path: Path) -> None:
    key = _new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ferry"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Ferry CA {socket.gethostname()}"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, key)
    _write_cert(cert_path, cert)


def _alt_names(names: list[str]) -> list[x509.GeneralName]:
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    return alt


def _current(cert_path: Path, key_path: Path, names: list[str]) -> bool:
    """Whether the server certificate exists, covers exactly ``names`` and is not near its
    end."""
    if not (cert_path.exists() and key_path.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    if set(sans) != set(_alt_names(names)):
        return False
    return cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > RENEW_BEFORE


def _make_server_certificate(
    ca_cert_path: Path, ca_key_path: Path, cert_path: Path, key_path: Path, names: list[str]
) -> None:
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TlsError(f"{ca_key_path} is not the key Ferry made; remove the tls directory")
    key = _new_key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=SERVER_DAYS), ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(_alt_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(key_path, key)
    _write_cert(cert_path, cert)
