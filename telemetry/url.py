"""Broker URLs: ``mqtt://host[:port]`` and, over TLS, ``mqtts://host[:port]`` (default port 8883)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORT = 1883
DEFAULT_TLS_PORT = 8883
SUPPORTED_SCHEMES = ("mqtt", "mqtts")


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    scheme: str = "mqtt"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def tls(self) -> bool:
        return self.scheme == "mqtts"


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse ``mqtt://host[:port]``; raise ValueError saying what is wrong with ``url``."""
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(f"broker URL {url!r} must look like mqtt://host:port")
    parts = urlsplit(url)
    if parts.scheme not in SUPPORTED_SCHEMES:
        raise ValueError(f"broker URL {url!r}: scheme {parts.scheme!r} not supported; use one of {SUPPORTED_SCHEMES}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"broker URL {url!r}: unexpected path/query/fragment; use mqtt://host:port")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"broker URL {url!r}: pass username/password as arguments, not in the URL")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"broker URL {url!r}: bad port ({exc})") from None
    host = parts.hostname
    if not host:
        raise ValueError(f"broker URL {url!r} has no host")
    if port == 0:
        raise ValueError(f"broker URL {url!r}: port 0 is not a broker port")
    default_port = DEFAULT_TLS_PORT if parts.scheme == "mqtts" else DEFAULT_PORT
    return BrokerAddress(host=host, port=default_port if port is None else port, scheme=parts.scheme)
