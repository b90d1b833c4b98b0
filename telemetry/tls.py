"""TLS for MQTT clients (verify the broker, optionally present a client certificate), and a dev PKI.

Every robot verifies the broker's certificate against the site CA (``ca_file``; the system store
when None) and authenticates either by username/password or by its own client certificate whose
common name is its robot id (Mosquitto ``use_identity_as_username``). Hostname checking stays on.

:func:`make_dev_pki` writes a throw-away CA, a broker certificate and per-client certificates for
tests and a developer's fleet. Nothing it writes may be committed; production keys come from the
hospital's PKI.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class TlsConfig:
    ca_file: Path | None = None  # None: the system's trusted CAs
    cert_file: Path | None = None  # client certificate (PEM), with key_file
    key_file: Path | None = None

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("TlsConfig: cert_file and key_file go together (client certificate + its key)")
        for what in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, what)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"TlsConfig: {what} {path} does not exist")

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that verifies the broker's certificate and host name (TLS >= 1.2)."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file) if self.ca_file else None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert_file is not None and self.key_file is not None:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx

    def apply(self, client: Any) -> None:
        """Configure a paho client to use this TLS setup."""
        client.tls_set_context(self.ssl_context())


@dataclass(frozen=True, slots=True)
class DevPki:
    ca_file: Path
    server_cert: Path
    server_key: Path
    clients: dict[str, tuple[Path, Path]]  # common name -> (cert, key)

    def client_tls(self, name: str) -> TlsConfig:
        cert, key = self.clients[name]
        return TlsConfig(self.ca_file, cert, key)

    def server_only_tls(self) -> TlsConfig:
        return TlsConfig(self.ca_file)


def make_dev_pki(out_dir: Path, client_names: list[str], *, server_host: str = "127.0.0.1", days: int = 2) -> DevPki:
    """A CA, a broker certificate for ``server_host`` and one client certificate per name (CN = name).

    Needs the ``cryptography`` package (a test/dev dependency). EC P-256 keys: fast to generate.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    out_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=days)

    def key_pair() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
        path.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
        )
        path.chmod(0o600)
        return path

    def write_cert(cert: x509.Certificate, path: Path) -> Path:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    ca_key = key_pair()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "medbot dev CA")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    def issue(cn: str, server: bool) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = key_pair()
        builder = (
            x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        )
        if server:
            try:
                san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(cn))
            except ValueError:
                san = x509.DNSName(cn)
            builder = builder.add_extension(x509.SubjectAlternativeName([san]), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    ca_file = write_cert(ca_cert, out_dir / "ca.crt")
    server_cert, server_key = issue(server_host, server=True)
    clients: dict[str, tuple[Path, Path]] = {}
    for name in client_names:
        cert, key = issue(name, server=False)
        clients[name] = (write_cert(cert, out_dir / f"{name}.crt"), write_key(key, out_dir / f"{name}.key"))
    return DevPki(
        ca_file=ca_file,
        server_cert=write_cert(server_cert, out_dir / "server.crt"),
        server_key=write_key(server_key, out_dir / "server.key"),
        clients=clients,
    )
