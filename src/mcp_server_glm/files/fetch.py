"""The one streaming fetch: a GET followed through redirects (each hop checked again), its body handed
on a chunk at a time under a size and a time limit; both URL inputs and media downloads use it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy

import anyio
import httpx2

from ..errors import FetchFailed, InputRefused
from .sniffing import SNIFF_BYTES
from .ssrf import checked_url, guarded_transport, refuse_proxied
from .text import amount, one_line, quote

CHUNK = 64 * 1024
MAX_REDIRECTS = 5


class Fetcher:
    """Owns two HTTP clients, opened on first use: a guarded one for URLs a client gave, and an
    unguarded one for media URLs the GLM API itself returned."""

    def __init__(
        self,
        *,
        connect_timeout: float,
        read_timeout: float,
        total_timeout: float,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout
        # Tests only: it replaces the network of both clients, and with it the connect-time check.
        self._transport = transport
        self._clients: dict[bool, httpx2.AsyncClient] = {}

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()

    async def fetch(
        self, url: str, *, guarded: bool, limit: int, write: Callable[[bytes], object], blocking: bool = False
    ) -> tuple[int, bytes]:
        """The body of `url`, at most `limit` bytes, given to `write` a chunk at a time (in a worker thread
        if `blocking`, as a write to a file is); its size and its first SNIFF_BYTES bytes. `guarded` for
        URLs a client gave: fetched through the address check."""
        size = 0
        head = b""
        with anyio.move_on_after(self.total_timeout) as scope:
            async with self._open(url, guarded=guarded, limit=limit) as response:
                with self._network_errors():
                    async for chunk in response.aiter_bytes(CHUNK):
                        size += len(chunk)
                        if size > limit:
                            raise FetchFailed(f"it is larger than the {amount(limit)} limit")
                        if len(head) < SNIFF_BYTES:
                            head += chunk[: SNIFF_BYTES - len(head)]
                        if blocking:
                            await anyio.to_thread.run_sync(write, chunk)
                        else:
                            write(chunk)
        if scope.cancelled_caught:
            raise FetchFailed(f"it took longer than {self.total_timeout:g} s")
        return size, head

    @asynccontextmanager
    async def _open(self, url: str, *, guarded: bool, limit: int) -> AsyncIterator[httpx2.Response]:
        """A streamed 2xx response to GET `url`; redirects are followed here, each hop checked again."""
        client = self._client(guarded)
        for hop in range(MAX_REDIRECTS + 1):
            after = f" (after a redirect to {quote(url)})" if hop else ""
            try:
                target = checked_url(url, guarded=guarded)
                if guarded:
                    refuse_proxied(target)
                with self._network_errors():
                    response = await client.send(client.build_request("GET", target), stream=True)
            except InputRefused as exc:
                raise InputRefused(f"{exc}{after}") from None
            if response.is_redirect:
                await response.aclose()
                try:
                    url = str(target.join(response.headers["location"]))
                except (httpx2.InvalidURL, ValueError):
                    raise FetchFailed(f"it redirects to an invalid URL{after}") from None
                continue
            try:
                if not response.is_success:
                    raise FetchFailed(f"HTTP {response.status_code}{after}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise FetchFailed(f"it is {amount(int(declared))}, more than the {amount(limit)} limit")
                yield response
            finally:
                await response.aclose()
            return
        raise FetchFailed(f"it redirects more than {MAX_REDIRECTS} times")

    def _client(self, guarded: bool) -> httpx2.AsyncClient:
        if guarded not in self._clients:
            transport = self._transport
            if transport is None and guarded:
                transport = guarded_transport()
            try:
                self._clients[guarded] = httpx2.AsyncClient(
                    headers={"User-Agent": "mcp-server-glm", "Accept-Encoding": "identity"},
                    cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),  # keeps and sends none
                    timeout=httpx2.Timeout(self.read_timeout, connect=self.connect_timeout),
                    follow_redirects=False,
                    # The API's media URLs go through the environment's proxy (HTTPS_PROXY, NO_PROXY);
                    # a client's URLs never do: a proxy would connect for us, past the address check.
                    trust_env=not guarded,
                    transport=transport,
                )
            except (ValueError, ImportError) as exc:  # a proxy variable httpx cannot use
                raise FetchFailed(
                    f"a proxy set in the environment cannot be used ({one_line(str(exc))}); correct or "
                    "unset HTTPS_PROXY, HTTP_PROXY and ALL_PROXY"
                ) from None
        return self._clients[guarded]

    @contextlib.contextmanager
    def _network_errors(self) -> Iterator[None]:
        try:
            yield
        except httpx2.ConnectTimeout:
            raise FetchFailed(f"could not connect in {self.connect_timeout:g} s") from None
        except httpx2.ReadTimeout:
            raise FetchFailed(f"no data for {self.read_timeout:g} s (read timeout)") from None
        except httpx2.ConnectError as exc:
            raise FetchFailed(f"could not connect ({one_line(str(exc) or type(exc).__name__)})") from None
        except httpx2.HTTPError as exc:
            raise FetchFailed(f"the connection failed ({one_line(str(exc) or type(exc).__name__)})") from None
