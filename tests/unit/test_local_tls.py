"""The local runtime's certificates: made once, reused while valid, replaced when they no longer fit, and
accepted by a verifying TLS client that was given the CA (and by no other)."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509

from marketplace.local import tls


def _handshake(files: tls.TlsFiles, client: ssl.SSLContext, server_hostname: str) -> str:
    """A real TLS handshake over a socket pair; returns what the client read, or raises its SSL error."""
    left, right = socket.socketpair()
    server_error: list[BaseException] = []

    def serve() -> None:
        try:
            with files.server_context().wrap_socket(right, server_side=True) as connection:
                connection.sendall(b"hello over tls")
        except (ssl.SSLError, OSError) as error:
            server_error.append(error)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client.wrap_socket(left, server_hostname=server_hostname) as connection:
            return connection.recv(100).decode()
    finally:
        thread.join(timeout=10)
        right.close()


def test_first_call_makes_a_ca_and_a_server_certificate(tmp_path: Path):
    files = tls.ensure(tmp_path / "tls")
    assert files.created
    assert {p.name for p in files.directory.iterdir()} >= {"ca.pem", "ca-key.pem", "server.pem", "server-key.pem"}
    for key in ("ca-key.pem", "server-key.pem"):
        assert stat.S_IMODE((files.directory / key).stat().st_mode) == 0o600

    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert x509.DNSName("localhost") in (constraints.value.permitted_subtrees or [])
    assert files.not_after == cert.not_valid_after_utc


def test_a_client_given_the_ca_verifies_the_server_for_every_loopback_name(tmp_path: Path):
    files = tls.ensure(tmp_path)
    assert _handshake(files, files.client_context(), "127.0.0.1") == "hello over tls"
    assert _handshake(files, tls.client_context(files.ca_cert), "localhost") == "hello over tls"
    assert _handshake(files, files.client_context(), "::1") == "hello over tls"


def test_a_client_without_the_ca_or_for_another_name_refuses(tmp_path: Path):
    files = tls.ensure(tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        _handshake(files, ssl.create_default_context(), "127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError, match=r"mismatch|not valid"):
        _handshake(files, files.client_context(), "example.com")


def test_later_calls_reuse_the_certificates(tmp_path: Path):
    first = tls.ensure(tmp_path)
    contents = {p.name: p.read_bytes() for p in tmp_path.glob("*.pem")}
    again = tls.ensure(tmp_path)
    assert not again.created
    assert again.spki_sha256 == first.spki_sha256
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.pem")} == contents


def test_a_server_certificate_near_its_end_is_renewed_under_the_same_ca(tmp_path: Path):
    first = tls.ensure(tmp_path)
    ca = first.ca_cert.read_bytes()
    later = first.not_after - tls.RENEW_BEFORE + dt.timedelta(hours=1)
    renewed = tls.ensure(tmp_path, now=later)
    assert renewed.created and renewed.spki_sha256 != first.spki_sha256
    assert renewed.ca_cert.read_bytes() == ca  # an imported CA stays valid
    assert renewed.not_after > first.not_after


def test_another_host_name_needs_a_new_ca_since_the_old_one_may_not_vouch_for_it(tmp_path: Path):
    first = tls.ensure(tmp_path)
    first_ca = first.ca_cert.read_bytes()
    wider = tls.ensure(tmp_path, tls.names_for("192.168.56.10"))
    assert wider.created and wider.ca_cert.read_bytes() != first_ca
    cert = x509.load_pem_x509_certificate(wider.cert.read_bytes())
    ips = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.IPAddress)
    assert "192.168.56.10" in [str(a) for a in ips]
    assert wider.spki_sha256 != first.spki_sha256
    # the loopback names are still covered, and asking for them again reuses the wider pair
    assert not tls.ensure(tmp_path).created


def test_damaged_or_foreign_files_are_replaced(tmp_path: Path):
    tls.ensure(tmp_path)
    (tmp_path / "server-key.pem").write_text("not a key")
    repaired = tls.ensure(tmp_path)
    assert repaired.created
    assert _handshake(repaired, repaired.client_context(), "127.0.0.1") == "hello over tls"

    foreign = tls.ensure(tmp_path / "other")
    (tmp_path / "server.pem").write_bytes(foreign.cert.read_bytes())
    (tmp_path / "server-key.pem").write_bytes(foreign.key.read_bytes())
    replaced = tls.ensure(tmp_path)
    assert replaced.created and replaced.spki_sha256 != foreign.spki_sha256
    assert _handshake(replaced, replaced.client_context(), "127.0.0.1") == "hello over tls"


def test_names_for_a_listening_address():
    assert tls.names_for("127.0.0.1") == tls.LOOPBACK_NAMES
    assert tls.names_for("0.0.0.0") == tls.LOOPBACK_NAMES
    assert tls.names_for("[::1]") == tls.LOOPBACK_NAMES
    assert tls.names_for("dev.example.test") == (*tls.LOOPBACK_NAMES, "dev.example.test")
