"""The SSRF guard, a security boundary: URLs a client gives are fetched from public addresses only, each
address checked as the connection is made, and URLs handed to the GLM API are checked by their host.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
from collections.abc import Iterable

import anyio
import httpcore2
import httpx2

from ..errors import FileRefused, InputRefused
from ..glm.proxies import proxy_for
from .text import quote, scheme
from .types import IPAddress

SHARED_ADDRESSES = ipaddress.IPv4Network("100.64.0.0/10")
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")


class _GuardedNetwork(httpcore2.AsyncNetworkBackend):
    """Opens TCP connections to public addresses only. The name is resolved here, every address is
    checked, and the connection goes to a checked address: a DNS answer cannot change in between."""

    def __init__(self) -> None:
        self._network = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore2's signature
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                answers = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise httpcore2.ConnectTimeout(f"resolving {host} took too long") from None
        except OSError as exc:
            raise httpcore2.ConnectError(f"cannot resolve {host} ({exc.strerror or exc})") from None
        addresses = list(dict.fromkeys(str(answer[4][0]) for answer in answers))
        for address in addresses:
            refusal = address_refusal(ipaddress.ip_address(address))
            if refusal is not None:
                raise InputRefused(f"{host} resolves to {address}, {refusal}")
        failure: Exception = httpcore2.ConnectError(f"cannot resolve {host}")
        for address in addresses:
            try:
                return await self._network.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore2's signature
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise InputRefused("Unix sockets are never connected to")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class _GuardedTransport(httpx2.AsyncHTTPTransport):
    """httpx2's own transport, on a connection pool whose every connection goes through the guard."""

    def __init__(self) -> None:
        super().__init__(trust_env=False)
        # WORKAROUND, on httpx2's private attribute `_pool`: httpx2 takes no network backend, so the pool
        # it built (idle: no sockets yet) is replaced by the same pool with one; the rest of the transport
        # (requests, exception mapping) is httpx2's. Should httpx2 rename `_pool`, this assignment would
        # silently add an unused attribute and every connection would bypass the guard: `guard_installed`
        # (and tests/security/test_url_attacks.py, which calls it) makes that fail loudly instead.
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_GuardedNetwork(),
        )


def guarded_transport() -> httpx2.AsyncHTTPTransport:
    """A transport whose every connection goes through the address check; raises if the workaround
    on httpx2's private `_pool` no longer takes effect."""
    transport = _GuardedTransport()
    if not guard_installed(transport):
        raise RuntimeError("httpx2 no longer sends requests through `_pool`: the SSRF guard is not installed")
    return transport


def guard_installed(transport: httpx2.AsyncHTTPTransport) -> bool:
    """Whether `transport` sends its requests through a pool whose network is the guard: httpx2 still
    keeps its pool in `_pool`, the attribute `handle_async_request` uses."""
    pool = vars(transport).get("_pool")
    backend = getattr(pool, "_network_backend", None)
    uses_pool = "_pool" in transport.handle_async_request.__code__.co_names
    return (
        isinstance(pool, httpcore2.AsyncConnectionPool) and isinstance(backend, _GuardedNetwork) and uses_pool
    )


def check_remote_url(ref: str, what: str = "image URL") -> str | None:
    """`ref` if it is an http(s) URL (the scheme in any case, given back in lower case) that may be handed
    to the GLM API for its servers to fetch; None if it is not an http(s) URL. Refused (`FileRefused`)
    when its host is `localhost` or a literal loopback, private, link-local or otherwise non-public
    address: those name this machine's network, or the API's own. Names are not resolved here: the API
    resolves them, from its network. `what` names the URL in the refusal ("page URL")."""
    found = scheme(ref)
    if found not in ("http", "https"):
        return None
    url = found + ref[len(found) :]
    try:
        parsed = httpx2.URL(url)
    except (httpx2.InvalidURL, TypeError, ValueError):
        raise FileRefused(f"{what} {quote(ref)} is refused: it is not a valid URL") from None
    host = parsed.host.rstrip(".").lower()
    if not host:
        raise FileRefused(f"{what} {quote(ref)} is refused: it names no host")
    if host == "localhost" or host.endswith(".localhost"):
        raise FileRefused(
            f"{what} {quote(ref)} is refused: {host} is this machine; only public hosts are fetched"
        )
    literal = literal_address(host)
    if literal is not None and (refusal := address_refusal(literal)) is not None:
        shown = f"{host} ({literal})" if ":" not in host and str(literal) != host else host
        raise FileRefused(f"{what} {quote(ref)} is refused: {shown} is {refusal}")
    return url


def checked_url(url: str, *, guarded: bool) -> httpx2.URL:
    """`url` parsed, if it is one the fetcher may GET; when `guarded`, no credentials in it and no
    literal non-public address (names are checked as they connect)."""
    try:
        parsed = httpx2.URL(url)
    except (httpx2.InvalidURL, TypeError, ValueError):
        raise InputRefused("it is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InputRefused("only http and https URLs are fetched")
    if guarded:
        if parsed.userinfo:
            raise InputRefused("URLs with a user name or password are not fetched")
        literal = literal_address(parsed.host)
        if literal is not None and (refusal := address_refusal(literal)) is not None:
            numeric = ":" not in parsed.host and str(literal) != parsed.host
            shown = f"{parsed.host} ({literal})" if numeric else parsed.host
            raise InputRefused(f"{shown} is {refusal}")
    return parsed


def refuse_proxied(url: httpx2.URL) -> None:
    """A URL the environment sends through a proxy cannot be checked: the guard checks the address it
    connects to, and through a proxy that is the proxy's."""
    proxy = proxy_for(str(url))
    if proxy is not None:
        raise InputRefused(
            f"it cannot be checked: {proxy} would fetch it, and the address check needs a direct "
            f"connection. Give a local file or a data URL instead, or add {url.host} to NO_PROXY"
        )


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # Forms like 2130706433 or 0x7f.1, which resolvers read as IPv4 addresses.
    if re.fullmatch(r"[0-9A-Fa-fXx.]+", host):
        with contextlib.suppress(OSError):
            return ipaddress.IPv4Address(socket.inet_aton(host))
    return None


def address_refusal(ip: IPAddress) -> str | None:
    """Why the guard will not connect to `ip` ("a loopback address; ..."), or None if it is public."""
    candidates: list[IPAddress] = []
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv6 addresses that carry an IPv4 one (mapped, 6to4, Teredo, NAT64) are judged by it too,
        # and by it first, so that ::ffff:127.0.0.1 is called loopback.
        embedded = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
        if ip in NAT64_PREFIX:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        candidates += [address for address in embedded if address is not None]
    for address in [*candidates, ip]:
        kind = _address_kind(address)
        if kind is not None:
            return f"{kind}; only public addresses are fetched"
    return None


def _address_kind(ip: IPAddress) -> str | None:
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services live)"
    if ip.is_multicast:
        return "a multicast address"
    if ip in SHARED_ADDRESSES:
        return "a shared (carrier-grade NAT) address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local):
        return "a private address"
    if not ip.is_global:
        return "not a public address"
    return None
