"""Requests Gridcast makes to addresses its users give (webhooks): only http(s), only to public
addresses (no loopback, private, link-local, multicast, reserved or unspecified ones, IPv4 or IPv6,
IPv4-mapped, 6to4 and Teredo included) unless the operator allows them (GRIDCAST["OUTBOUND_ALLOW"],
env GRIDCAST_WEBHOOK_ALLOW: CIDRs or host names). The host is resolved once and the connection goes
to the address checked (no second lookup a DNS change could turn), redirects are not followed, and
time and the answer's size are bounded."""

import dataclasses
import ipaddress
import socket
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as LookupTimeout
from http import client as http_client
from urllib.parse import urlsplit

from django.conf import settings

from core.errors import InvalidInput

MAX_URL_LENGTH = 2000
RESOLVE_SECONDS = 5.0
# Lookups run here so that a resolver that does not answer holds a request at most RESOLVE_SECONDS.
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="outbound-dns")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundRefused(InvalidInput):
    """A URL Gridcast will not call: not http(s), malformed, or to an address that is not public."""

    code = "url_refused"


class HostUnresolved(OutboundRefused):
    """The host did not resolve (in time): refused when a URL is given, retried when calling it."""


class OutboundFailed(Exception):
    """The request was made and failed before an answer: refused connection, timeout, TLS error."""


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    body: bytes  # at most the `max_bytes` asked for
    truncated: bool


def _setting(name, default):
    return settings.GRIDCAST.get(name, default)


def _allowed():
    """The operator's exceptions: (networks, host names)."""
    networks, hosts = [], set()
    for item in _setting("OUTBOUND_ALLOW", []):
        try:
            networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
        except ValueError:
            hosts.add(item.lower().rstrip("."))
    return networks, hosts


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None and not _public(embedded):
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def _split(url: str):
    if not isinstance(url, str) or not url:
        raise OutboundRefused("a URL is needed, e.g. https://example.com/hook")
    if len(url) > MAX_URL_LENGTH:
        raise OutboundRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise OutboundRefused("the URL has spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise OutboundRefused(f"not a valid URL: {error}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise OutboundRefused("only http:// and https:// URLs can be called")
    if not parts.hostname:
        raise OutboundRefused("the URL has no host")
    if parts.username or parts.password:
        raise OutboundRefused("the URL must not hold a user name or password")
    return parts, port or (443 if parts.scheme.lower() == "https" else 80)


def resolve(url: str) -> tuple[str, int, list[str]]:
    """Check `url` and resolve its host: (host, port, addresses), every address allowed; else
    OutboundRefused saying why. Called when a URL is given and again before each request."""
    parts, port = _split(url)
    host = parts.hostname.lower().rstrip(".")
    networks, hosts = _allowed()
    try:
        infos = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM).result(RESOLVE_SECONDS)
    except LookupTimeout:
        raise HostUnresolved(f"the host {host} did not resolve within {RESOLVE_SECONDS:g} s") from None
    except (OSError, UnicodeError):
        raise HostUnresolved(f"the host {host} does not resolve") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise HostUnresolved(f"the host {host} does not resolve")
    if host not in hosts:
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if not _public(address) and not any(address in network for network in networks):
                raise OutboundRefused(
                    f"{host} is a loopback, private or reserved address ({address}); only public addresses "
                    "can be called (an operator may allow others with GRIDCAST_WEBHOOK_ALLOW)"
                )
    return host, port, addresses


def check_url(url: str) -> str:
    """`url` if Gridcast may call it, else OutboundRefused (for validating what a user gives)."""
    resolve(url)
    return url


class _Pinned:
    """Connects to an address already checked instead of looking the host up again."""

    address = ""
    cut = False  # set when the request took too long and was ended

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTP(_Pinned, http_client.HTTPConnection):
    pass


class _PinnedHTTPS(_Pinned, http_client.HTTPSConnection):
    def connect(self) -> None:
        _Pinned.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float = 5.0, max_bytes: int = 4096) -> Answer:
    """POST `body` to `url` after resolve(): no redirect followed (a 3xx is the answer), each step
    (connecting, sending, each read) at most `timeout` seconds and the whole request at most twice
    that (a server dripping its answer is cut off), at most `max_bytes` of the answer read.
    OutboundRefused for a URL not allowed, OutboundFailed when no answer came (a host that does not
    resolve now included: DNS may answer later)."""
    parts = urlsplit(url)
    try:
        host, port, addresses = resolve(url)
    except HostUnresolved as error:
        raise OutboundFailed(error.message) from None
    kind = _PinnedHTTPS if parts.scheme.lower() == "https" else _PinnedHTTP
    extra = {"context": ssl.create_default_context()} if kind is _PinnedHTTPS else {}
    connection = kind(host, port, timeout=timeout, **extra)
    connection.address = addresses[0]
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    watchdog = threading.Timer(timeout * 2, _cut, args=(connection,))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("POST", target, body=body, headers={**headers, "Content-Length": str(len(body))})
        response = connection.getresponse()
        data = bytearray()
        while len(data) <= max_bytes:
            chunk = response.read1(max_bytes + 1 - len(data))
            if not chunk:
                break
            data += chunk
        if connection.cut:  # an answer cut short (it may look whole: end of file ends headers and body)
            raise OutboundFailed("timed out")
        return Answer(status=response.status, body=bytes(data[:max_bytes]), truncated=len(data) > max_bytes)
    except (OSError, http_client.HTTPException, ssl.SSLError, ValueError) as error:
        raise OutboundFailed("timed out" if connection.cut else _describe(error)) from None
    finally:
        watchdog.cancel()
        connection.close()


def _cut(connection: _Pinned) -> None:
    """The whole request took too long: end it (the blocked read fails or ends at once)."""
    connection.cut = True
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _describe(error: Exception) -> str:
    if isinstance(error, TimeoutError | socket.timeout):
        return "timed out"
    return f"{type(error).__name__}: {error}"[:500]
