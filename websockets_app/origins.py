"""The Origin check of a WebSocket handshake: exact scheme, host and port, never a substring test.

``WEBSOCKETS["ALLOWED_ORIGINS"]`` lists origins such as ``"https://example.com"`` or ``"http://localhost:8000"``.
A host written with a leading dot (``"https://.example.com"``) matches the domain and every subdomain, as a leading
dot does in Django's ALLOWED_HOSTS. ``https://example.com.evil.net`` matches neither.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from websockets_app.conf import ws_settings

DEFAULT_PORTS = {"http": 80, "https": 443}
# scheme://host[:port] and nothing else: no user info, path, query or fragment. Hosts are DNS names, IPv4 or
# bracketed IPv6 literals.
_ORIGIN = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<host>\.?[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?\Z"
)


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int | None
    any_subdomain: bool = False

    @classmethod
    def parse(cls, value: str) -> Origin | None:
        """The parts of an origin, lower-cased, with the scheme's default port filled in; None if malformed."""
        match = _ORIGIN.match(value.strip().lower()) if isinstance(value, str) else None
        if match is None:
            return None
        host = match["host"]
        any_subdomain = host.startswith(".")
        host = host.lstrip(".").rstrip(".") if any_subdomain else host.rstrip(".")
        if not host or ".." in host:
            return None
        port = int(match["port"]) if match["port"] else DEFAULT_PORTS.get(match["scheme"])
        if port is not None and not 0 < port < 65536:
            return None
        return cls(scheme=match["scheme"], host=host, port=port, any_subdomain=any_subdomain)

    def allows(self, other: Origin) -> bool:
        if (self.scheme, self.port) != (other.scheme, other.port) or other.any_subdomain:
            return False
        if other.host == self.host:
            return True
        return self.any_subdomain and other.host.endswith("." + self.host)


def origin_allowed(header: str | None, allowed: list[str] | tuple[str, ...] | None = None) -> bool:
    """Whether a handshake's Origin header passes ``allowed`` (default: the setting). No list: no check."""
    allowed = ws_settings.ALLOWED_ORIGINS if allowed is None else allowed
    if allowed is None:
        return True
    origin = Origin.parse(header) if header else None
    if origin is None:
        return False
    return any(entry.allows(origin) for entry in _parsed(tuple(allowed)))


@lru_cache(maxsize=8)
def _parsed(allowed: tuple[str, ...]) -> tuple[Origin, ...]:
    # Parsed once per list, not on every $connect; malformed entries are reported by check websockets_app.E014.
    return tuple(entry for entry in map(Origin.parse, allowed) if entry is not None)
