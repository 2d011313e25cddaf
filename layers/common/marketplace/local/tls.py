"""HTTPS for the local runtime (``marketplace serve --tls``): a local certificate authority and a server
certificate for the loopback names, made once with ``cryptography`` and reused while they are valid.

Browser workbenches (code-server's) only reach a gallery over HTTPS, and Node clients only trust a
certificate whose issuer they were given (``NODE_EXTRA_CA_CERTS``), so the runtime needs a stable CA rather
than a fresh self-signed certificate per run. The CA carries name constraints: even when an operator
imports it into a browser, it can only vouch for the names it was made for (loopback by default), and its
key never leaves the directory it was generated in (mode 0600).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import hashlib
import ipaddress
import os
import socket
import ssl
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_HOSTS = {"", "0.0.0.0", "::"}  # noqa: S104 - names, not a bind
CA_LIFETIME = dt.timedelta(days=3650)
SERVER_LIFETIME = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=7)  # a certificate this close to expiry is replaced rather than reused
CA_FILE, CA_KEY_FILE, CERT_FILE, KEY_FILE = "ca.pem", "ca-key.pem", "server.pem", "server-key.pem"
PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of one local CA and the server certificate it signed."""

    directory: Path
    names: tuple[str, ...]
    not_after: dt.datetime
    spki_sha256: str  # for Chromium's --ignore-certificate-errors-spki-list
    created: bool  # made by this call (False: reused from an earlier run)

    @property
    def ca_cert(self) -> Path:
        return self.directory / CA_FILE

    @property
    def cert(self) -> Path:
        return self.directory / CERT_FILE

    @property
    def key(self) -> Path:
        return self.directory / KEY_FILE

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts the system's authorities and this CA."""
        return client_context(self.ca_cert)


def client_context(ca_file: str | os.PathLike[str]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=os.fspath(ca_file))
    return context


def names_for(host: str) -> tuple[str, ...]:
    """The names the server certificate must cover when the runtime listens on ``host``."""
    host = host.strip("[]")
    if host in WILDCARD_HOSTS or host in LOOPBACK_NAMES:
        return LOOPBACK_NAMES
    return (*LOOPBACK_NAMES, host)


def ensure(directory: Path, names: Iterable[str] = LOOPBACK_NAMES, *, now: dt.datetime | None = None) -> TlsFiles:
    """The CA and server certificate in ``directory``: reused when valid for ``names``, else (re)made.

    A lock file serializes concurrent callers (two runtimes starting at once share one CA)."""
    wanted = tuple(dict.fromkeys(names))
    now = now or dt.datetime.now(dt.UTC)
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory / ".lock"):
        created = False
        ca = _load_ca(directory, wanted, now)
        if ca is None:
            ca = _make_ca(wanted, now)
            _write_key(directory / CA_KEY_FILE, ca[1])
            _write(directory / CA_FILE, ca[0].public_bytes(serialization.Encoding.PEM), 0o644)
            created = True
        ca_cert, ca_key = ca
        server = None if created else _load_server(directory, ca_cert, wanted, now)
        if server is None:
            server = _make_server(ca_cert, ca_key, wanted, now)
            _write_key(directory / KEY_FILE, server[1])
            _write(directory / CERT_FILE, server[0].public_bytes(serialization.Encoding.PEM), 0o644)
            created = True
        cert = server[0]
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    fingerprint = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    return TlsFiles(directory, wanted, cert.not_valid_after_utc, fingerprint, created)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Atomically: a reader never sees half a file, and a key is never readable by others, even briefly."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _write_key(path: Path, key: PrivateKey) -> None:
    _write(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()), 0o600)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _permitted_subtree(name: str) -> x509.GeneralName:
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return x509.DNSName(name)
    if address.is_loopback:  # the whole loopback range: 127.0.0.2 is this machine too
        return x509.IPAddress(ipaddress.ip_network("127.0.0.0/8" if address.version == 4 else "::1/128"))
    return x509.IPAddress(ipaddress.ip_network(f"{address}/{address.max_prefixlen}"))


def _permits(ca: x509.Certificate, names: Iterable[str]) -> bool:
    try:
        constraints = ca.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return False
    permitted = set(constraints.permitted_subtrees or ())
    return all(_permitted_subtree(name) in permitted for name in names)


def _valid(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now and cert.not_valid_after_utc - now > RENEW_BEFORE


def _same_key(cert: x509.Certificate, key: object) -> bool:
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return False
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(key.public_key().public_bytes(serialization.Encoding.DER, public)
                == cert.public_key().public_bytes(serialization.Encoding.DER, public))


def _load_pair(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, PrivateKey] | None:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not _same_key(cert, key):
        return None
    return cert, key


def _load_ca(directory: Path, names: tuple[str, ...], now: dt.datetime) -> tuple[x509.Certificate, PrivateKey] | None:
    pair = _load_pair(directory / CA_FILE, directory / CA_KEY_FILE)
    if pair is None or not _valid(pair[0], now) or not _permits(pair[0], names):
        return None
    return pair


def _load_server(directory: Path, ca: x509.Certificate, names: tuple[str, ...],
                 now: dt.datetime) -> tuple[x509.Certificate, PrivateKey] | None:
    pair = _load_pair(directory / CERT_FILE, directory / KEY_FILE)
    if pair is None or not _valid(pair[0], now):
        return None
    cert = pair[0]
    try:
        cert.verify_directly_issued_by(ca)
        covered = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return None
    return pair if {_general_name(name) for name in names} <= covered else None


def _key_ids(subject_key: PrivateKey, issuer_key: PrivateKey) -> list[tuple[x509.ExtensionType, bool]]:
    return [
        (x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), False),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False),
    ]


def _make_ca(names: tuple[str, ...], now: dt.datetime) -> tuple[x509.Certificate, PrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "marketplace (local development)"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"marketplace local CA {socket.gethostname()[:32]} {now:%Y-%m-%d}"),
    ])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.NameConstraints(permitted_subtrees=list(dict.fromkeys(map(_permitted_subtree, names))),
                                            excluded_subtrees=None), critical=True)
    )
    for extension, critical in _key_ids(key, key):
        builder = builder.add_extension(extension, critical)
    return builder.sign(key, hashes.SHA256()), key


def _make_server(ca: x509.Certificate, ca_key: PrivateKey, names: tuple[str, ...],
                 now: dt.datetime) -> tuple[x509.Certificate, PrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + SERVER_LIFETIME, ca.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([_general_name(name) for name in names]), critical=False)
    )
    for extension, critical in _key_ids(key, ca_key):
        builder = builder.add_extension(extension, critical)
    return builder.sign(ca_key, hashes.SHA256()), key
