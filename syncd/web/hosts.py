"""Which requests are ours: the Host allow-list (DNS rebinding), the Origin check (cross-site
WebSocket and forms), and the client's address and scheme behind a trusted reverse proxy."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from aiohttp import web

from syncd.config import WebSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("", "0.0.0.0", "::")


def _ip(text: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def split_host(value: str, default_port: int) -> tuple[str, int] | None:
    """``Host``-style ``name[:port]`` → (lower-case name without brackets or final dot, port);
    None when it is anything else (user info, a path, spaces, a bad port)."""
    if not value or any(c in value for c in "@/\\?# \t\r\n") or not value.isprintable():
        return None
    try:
        parts = urlsplit(f"//{value}")
        port = parts.port
    except ValueError:
        return None
    name = (parts.hostname or "").rstrip(".")
    if not name:
        return None
    return name, default_port if port is None else port


class HostPolicy:
    """The names this page answers to, and the proxies whose forwarding headers it believes."""

    def __init__(self, settings: WebSettings) -> None:
        names = set(LOOPBACK_NAMES)
        if settings.host.lower() not in WILDCARDS:
            names.add(settings.host.lower().strip("[]"))
        self._own = frozenset(names)
        self._own_ips = frozenset(ip for ip in map(_ip, names) if ip is not None)
        self._extra: dict[str, int | None] = {}
        for entry in settings.allowed_hosts:
            parsed = split_host(entry, 0)
            if parsed is not None:
                name, port = parsed
                self._extra[name] = port or None  # no port written: any port
        self._proxies = tuple(
            ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies
        )

    # -- Host and Origin ----------------------------------------------------------------------

    def allows(self, name: str, port: int, local: tuple[str, int] | None) -> bool:
        """A name of ours: an allowed_hosts entry (its port, if it gives one), or this page's
        own address, a loopback name or the address the connection arrived on, with the port
        the connection arrived on. Any other name may be a stranger's, rebound to us."""
        if name in self._extra:
            wanted = self._extra[name]
            return wanted is None or wanted == port
        if local is not None and port != local[1]:
            return False
        if name in self._own:
            return True
        ip = _ip(name)
        if ip is None:
            return False
        # An address literal cannot be an attacker's rebound name; it must still be ours.
        return ip in self._own_ips or (local is not None and ip == _ip(local[0]))

    def host_ok(self, request: web.Request) -> bool:
        """The Host header names us, and so does the request line when it is a whole URL
        (``GET http://name/… HTTP/1.1``, which HTTP says wins over Host)."""
        default_port = 443 if self.is_https(request) else 80
        local = local_address(request)
        names = [request.headers.get("Host", "")]
        target = request.raw_path
        if not target.startswith("/"):
            try:
                names.append(urlsplit(target).netloc)
            except ValueError:
                return False
        for name in names:
            parsed = split_host(name, default_port)
            if parsed is None or not self.allows(*parsed, local):
                return False
        return True

    def origin_ok(self, request: web.Request, origin: str) -> bool:
        """An ``Origin`` header naming one of our own pages ("null" never does)."""
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or parts.path or parts.query or parts.fragment:
            return False
        parsed = split_host(parts.netloc, 443 if scheme == "https" else 80)
        if parsed is None:
            return False
        name, port = parsed
        local = local_address(request)
        if self.is_https(request) != (scheme == "https") and name not in self._extra:
            return False  # http page of ours vs https: another origin unless via the proxy name
        return self.allows(name, port, local)

    # -- behind a reverse proxy ---------------------------------------------------------------

    def trusted(self, address: str | None) -> bool:
        ip = _ip(address or "")
        return ip is not None and any(ip in net for net in self._proxies)

    def client_address(self, request: web.Request) -> str:
        """The client's IP: the peer, or, when the peer is a trusted proxy, the nearest address
        in X-Forwarded-For that is not one (entries further left could be made up)."""
        peer = request.remote or ""
        if not self.trusted(peer):
            return peer
        chain = [
            a.strip() for a in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")
        ]
        for entry in reversed([a for a in chain if a]):
            ip = _ip(entry)
            if ip is None:
                return peer  # a forged or broken list: the proxy itself is the client we know
            if not self.trusted(str(ip)):
                return str(ip)
        return peer

    def is_local(self, request: web.Request) -> bool:
        """The client is on this machine: a loopback peer that is not a trusted proxy, or a
        trusted proxy that names a loopback client (a proxy that names no one is not local)."""
        peer = request.remote or ""
        if not is_loopback_address(peer):
            return False
        if not self.trusted(peer):
            return True
        return bool(request.headers.get("X-Forwarded-For")) and is_loopback_address(
            self.client_address(request)
        )

    def is_https(self, request: web.Request) -> bool:
        """TLS here, or at a trusted proxy that says so in X-Forwarded-Proto."""
        if request.secure:
            return True
        if not self.trusted(request.remote):
            return False
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
        return proto == "https"


def local_address(request: web.Request) -> tuple[str, int] | None:
    """The (address, port) the connection arrived on."""
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        return str(sockname[0]), int(sockname[1])
    return None


def client_key(address: str) -> str:
    """What the login throttle counts per: an IPv4 address, or an IPv6 /64 (one machine can
    have a whole /64 to itself)."""
    ip = _ip(address)
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip) if ip is not None else address


def is_loopback_address(address: str) -> bool:
    ip = _ip(address)
    return ip is not None and ip.is_loopback
