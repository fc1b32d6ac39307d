"""Every local file the server reads, every URL it fetches for a client and every file it writes.

Inputs are confined to allowed directories (no hidden files, no devices, no hard links) and must be whole
media of the kind asked for (formats.py walks their structure); URLs a client gives are fetched from
public addresses only; downloads stream into generated names.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import errno
import io
import ipaddress
import json
import logging
import os
import re
import secrets
import socket
import stat
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from types import TracebackType
from typing import IO, BinaryIO, Literal, Self
from urllib.parse import unquote, urlsplit

import anyio
import httpcore2
import httpx2

from . import formats
from .errors import Refusal
from .glm.proxies import proxy_for

try:  # Unix: a download holds a lock on its temporary file, so a later start can tell a stale one
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
STALE_PART_SECONDS = 86400.0  # without file locks, a `.part` file this old is taken for a dead download's

MediaKind = Literal["image", "audio", "video"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MB = 1024 * 1024
CHUNK = 64 * 1024
SNIFF_BYTES = 512  # enough to recognise media, and to say what a refused body looks like
MAX_REDIRECTS = 5
MAX_PATH = 4096
MAX_NAME = 255

ACCEPTED: dict[MediaKind, str] = {
    "image": "PNG, JPEG, WEBP or GIF",
    "audio": "WAV or MP3",
    "video": "MP4 or MOV",
}
NOUNS: dict[MediaKind, str] = {"image": "an image", "audio": "audio", "video": "a video"}
# extension: (MIME type, how messages name it)
FORMATS = {
    ".png": ("image/png", "a PNG image"),
    ".jpg": ("image/jpeg", "a JPEG image"),
    ".webp": ("image/webp", "a WEBP image"),
    ".gif": ("image/gif", "a GIF image"),
    ".wav": ("audio/wav", "WAV audio"),
    ".mp3": ("audio/mpeg", "MP3 audio"),
    ".mp4": ("video/mp4", "an MP4 video"),
    ".mov": ("video/quicktime", "a QuickTime (MOV) video"),
}
QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free")
SHARED_ADDRESSES = ipaddress.IPv4Network("100.64.0.0/10")
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
# Where a file system cannot hard-link, publishing falls back to an exclusive create and a rename.
NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK, errno.EXDEV}
SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
STEM = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,199}")


class FileRefused(Refusal):
    """An input or output the server will not use; str() is one line a model can act on, e.g.
    'image "/home/u/.ssh/id_rsa" is refused: hidden files and directories (".ssh") are never read'."""


class _Refused(Exception):
    """Why an input or a URL is refused; the caller adds what was refused."""


class _Failed(Exception):
    """Why a fetch failed (network, status, size, time); the caller adds the URL."""


@dataclass(frozen=True, slots=True)
class InputFile:
    data: bytes
    mime_type: str  # from the bytes, never from a declared type
    source: str  # the resolved path or the URL; "data URL" for a data URL

    @property
    def size(self) -> int:
        return len(self.data)

    def data_url(self) -> str:
        return f"data:{self.mime_type};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True, slots=True)
class OpenInput:
    """An input read from disk as it is used: the checked file itself, or a temporary file holding what a
    URL or data URL gave. `file` is positioned nowhere in particular: seek before reading."""

    file: BinaryIO
    size: int
    mime_type: str  # from the bytes, never from a declared type
    source: str


@dataclass(frozen=True, slots=True)
class SavedFile:
    path: Path
    name: str
    mime_type: str
    size: int
    source_url: str


class Files:
    """Reads inputs from allowed directories and URLs, and saves downloads into the output directory.

    Owns two HTTP clients, opened on first use: a guarded one for URLs a client gave, and an
    unguarded one for media URLs the GLM API itself returned. Close it with `aclose()` or `async with`.
    """

    def __init__(
        self,
        *,
        allowed_dirs: Sequence[Path],
        output_dir: Path,
        input_limits: Mapping[MediaKind, int],
        max_download_bytes: int,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        total_timeout: float = 900.0,
        transport: httpx2.AsyncBaseTransport | None = None,
        allow_hard_links: bool = False,
    ) -> None:
        given = [Path(os.path.abspath(Path(root).expanduser())) for root in allowed_dirs]
        self.allowed_dirs = [root.resolve() for root in given]
        self._lexical_roots = [*given, *self.allowed_dirs]
        self.output_dir = Path(output_dir).expanduser().resolve()
        self.input_limits = dict(input_limits)
        self.max_download_bytes = max_download_bytes
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout
        self.allow_hard_links = allow_hard_links
        # Tests only: it replaces the network of both clients, and with it the connect-time check.
        self._transport = transport
        self._clients: dict[bool, httpx2.AsyncClient] = {}
        # Stale temporary files of killed downloads are removed from the output directory before this
        # process's first download; its other downloads wait for that, so no live one is ever swept.
        self._swept = False
        self._sweeping = anyio.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()

    # -- inputs ----------------------------------------------------------------------------------

    def resolve_local(self, ref: str) -> Path:
        """The real path of a local file (a path or a file:// URL) the server may read."""
        try:
            return self._resolve(ref)
        except _Refused as exc:
            raise FileRefused(f"file {_quote(ref)} is refused: {exc}") from None

    async def read_input(self, ref: str, kind: MediaKind) -> InputFile:
        """The bytes of an input given as a path or a file, data or http(s) URL, sniffed as `kind`."""
        limit = self.input_limits.get(kind, self.max_download_bytes)
        scheme = _scheme(ref)
        with self._refusals(ref, kind):
            if scheme in ("http", "https"):
                chunks: list[bytes] = []
                await self._fetch(ref, limit, chunks.append)
                data, source = b"".join(chunks), ref
            elif scheme == "data":
                data, source = _decode_data_url(ref, limit), "data URL"
            else:
                path = await anyio.to_thread.run_sync(self._resolve_input, ref)
                data, source = await anyio.to_thread.run_sync(self._read_checked, path, limit), str(path)
            mime_type = await anyio.to_thread.run_sync(_whole, kind, io.BytesIO(data), len(data), data)
            return InputFile(data=data, mime_type=mime_type, source=source)

    @asynccontextmanager
    async def open_input(self, ref: str, kind: MediaKind) -> AsyncIterator[OpenInput]:
        """An input like `read_input` gives, as an open file instead of bytes in memory (for inputs too
        big to hold): a local file is opened once checked, what a URL or data URL holds is written to a
        temporary file first. The file is closed on leaving."""
        limit = self.input_limits.get(kind, self.max_download_bytes)
        scheme = _scheme(ref)
        with self._refusals(ref, kind):
            if scheme in ("http", "https") or scheme == "data":
                file, size = await self._keep(ref, limit)
                source = "data URL" if scheme == "data" else ref
            else:
                path = await anyio.to_thread.run_sync(self._resolve_input, ref)
                file, size = await anyio.to_thread.run_sync(self._open_checked, path, limit)
                source = str(path)
        try:
            with self._refusals(ref, kind):
                file.seek(0)
                head = await anyio.to_thread.run_sync(file.read, SNIFF_BYTES)
                mime_type = await anyio.to_thread.run_sync(_whole, kind, file, size, head)
                opened = OpenInput(file=file, size=size, mime_type=mime_type, source=source)
            yield opened
        finally:
            file.close()

    async def _keep(self, ref: str, limit: int) -> tuple[BinaryIO, int]:
        """What a URL or data URL holds, in an unnamed temporary file, and its size."""
        try:
            file: BinaryIO = await anyio.to_thread.run_sync(tempfile.TemporaryFile)
        except OSError as exc:
            raise _Failed(f"no temporary file to keep it in ({exc.strerror or exc})") from None
        try:
            if _scheme(ref) == "data":
                await anyio.to_thread.run_sync(file.write, _decode_data_url(ref, limit))
            else:
                await self._fetch(ref, limit, file.write, blocking=True)
            return file, file.tell()
        except OSError as exc:
            file.close()
            raise _Failed(f"it could not be written to a temporary file ({exc.strerror or exc})") from None
        except BaseException:
            file.close()
            raise

    @contextlib.contextmanager
    def _refusals(self, ref: str, kind: MediaKind) -> Iterator[None]:
        """Refusals and failures of reading an input, as one `FileRefused` line naming it."""
        shown = "data URL" if _scheme(ref) == "data" else _quote(ref)
        try:
            yield
        except _Failed as exc:
            raise FileRefused(f"{kind} {shown} could not be fetched: {exc}") from None
        except _Refused as exc:
            raise FileRefused(f"{kind} {shown} is refused: {exc}") from None

    def _resolve_input(self, ref: str) -> Path:
        scheme = _scheme(ref)
        if scheme not in (None, "file") and not Path(ref).is_absolute():
            raise _Refused(f"{scheme} URLs are not read; give a path, or a file, data, http or https URL")
        return self._resolve(ref)

    def _resolve(self, ref: str) -> Path:
        scheme = _scheme(ref)
        if scheme == "file":
            text = _file_url_path(ref)
        elif scheme is not None and not Path(ref).is_absolute():
            raise _Refused("it is neither a local path nor a file:// URL")
        else:
            text = ref
        _check_path_text(text)
        try:
            given = Path(text).expanduser()
        except RuntimeError:
            raise _Refused("its ~ cannot be expanded to a home directory") from None
        if not given.is_absolute():
            raise _Refused("give an absolute path (or one starting with ~/); relative paths are ambiguous")
        try:
            real = given.resolve(strict=True)
        except (FileNotFoundError, NotADirectoryError):
            raise _Refused("it does not exist") from None
        except RuntimeError:
            raise _Refused("it is a symlink loop") from None
        except OSError as exc:
            raise _Refused(f"it cannot be read ({exc.strerror or exc})") from None
        root = _deepest_root(real, self.allowed_dirs)
        if root is None:
            allowed = ", ".join(str(root) for root in self.allowed_dirs) or "none are configured"
            raise _Refused(f"it is outside the allowed directories ({allowed})")
        # Both where it really is and the name it was given by: a visible link into a hidden directory
        # and a hidden link pointing out are both refused. Only what lies below the root counts.
        lexical = Path(os.path.normpath(given))
        lexical_root = _deepest_root(lexical, self._lexical_roots)
        named = lexical.relative_to(lexical_root).parts if lexical_root is not None else lexical.parts
        for part in (*real.relative_to(root).parts, *named):
            if part.startswith("."):
                raise _Refused(f"hidden files and directories ({json.dumps(part)}) are never read")
        try:
            mode = os.stat(real).st_mode
        except OSError as exc:
            raise _Refused(f"it cannot be read ({exc.strerror or exc})") from None
        if not stat.S_ISREG(mode):
            raise _Refused(f"it is not a regular file (it is {_file_type(mode)})")
        return real

    def _read_checked(self, real: Path, limit: int) -> bytes:
        """At most `limit` bytes of a checked file; its size is checked before anything is read."""
        file, _ = self._open_checked(real, limit)
        with file:
            data = file.read(limit + 1)
        if len(data) > limit:
            raise _Refused(f"it grew past the {_amount(limit)} limit while being read")
        return data

    def _open_checked(self, real: Path, limit: int) -> tuple[BinaryIO, int]:
        """The checked file `real` opened for reading, and its size, which is at most `limit`."""
        root = _deepest_root(real, self.allowed_dirs)
        if root is None or real == root:
            raise _Refused("it is outside the allowed directories")
        try:
            fd = _open_below(root, real)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                raise _Refused("a link appeared on its path while it was being opened; try again") from None
            raise _Refused(f"it cannot be read ({exc.strerror or exc})") from None
        file = os.fdopen(fd, "rb")
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            file.close()
            raise _Refused("it changed into something that is not a regular file")
        if status.st_nlink > 1 and not self.allow_hard_links:
            file.close()
            raise _Refused(
                f"it has {status.st_nlink} hard links, and another name may lie outside the allowed "
                "directories; copy the file, or set GLM_ALLOW_HARD_LINKS=true to read such files"
            )
        if status.st_size > limit:
            file.close()
            raise _Refused(f"it is {_amount(status.st_size)}, more than the {_amount(limit)} limit")
        return file, status.st_size

    # -- fetching --------------------------------------------------------------------------------

    async def _fetch(
        self, url: str, limit: int, write: Callable[[bytes], object], *, blocking: bool = False
    ) -> None:
        """The body of a URL a client gave, fetched through the guard, at most `limit` bytes, given to
        `write` a chunk at a time (in a worker thread if `blocking`, as a write to a file is)."""
        received = 0
        with anyio.move_on_after(self.total_timeout) as scope:
            async with self._open(url, guarded=True, limit=limit) as response:
                with self._network_errors():
                    async for chunk in response.aiter_bytes(CHUNK):
                        received += len(chunk)
                        if received > limit:
                            raise _Failed(f"it is larger than the {_amount(limit)} limit")
                        if blocking:
                            await anyio.to_thread.run_sync(write, chunk)
                        else:
                            write(chunk)
        if scope.cancelled_caught:
            raise _Failed(f"it took longer than {self.total_timeout:g} s")

    @asynccontextmanager
    async def _open(self, url: str, *, guarded: bool, limit: int) -> AsyncIterator[httpx2.Response]:
        """A streamed 2xx response to GET `url`; redirects are followed here, each hop checked again."""
        client = self._client(guarded)
        for hop in range(MAX_REDIRECTS + 1):
            after = f" (after a redirect to {_quote(url)})" if hop else ""
            try:
                target = _checked_url(url, guarded=guarded)
                if guarded:
                    _refuse_proxied(target)
                with self._network_errors():
                    response = await client.send(client.build_request("GET", target), stream=True)
            except _Refused as exc:
                raise _Refused(f"{exc}{after}") from None
            if response.is_redirect:
                await response.aclose()
                try:
                    url = str(target.join(response.headers["location"]))
                except (httpx2.InvalidURL, ValueError):
                    raise _Failed(f"it redirects to an invalid URL{after}") from None
                continue
            try:
                if not response.is_success:
                    raise _Failed(f"HTTP {response.status_code}{after}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise _Failed(f"it is {_amount(int(declared))}, more than the {_amount(limit)} limit")
                yield response
            finally:
                await response.aclose()
            return
        raise _Failed(f"it redirects more than {MAX_REDIRECTS} times")

    def _client(self, guarded: bool) -> httpx2.AsyncClient:
        if guarded not in self._clients:
            transport = self._transport
            if transport is None and guarded:
                transport = _GuardedTransport()
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
                raise _Failed(
                    f"a proxy set in the environment cannot be used ({_one_line(str(exc))}); correct or "
                    "unset HTTPS_PROXY, HTTP_PROXY and ALL_PROXY"
                ) from None
        return self._clients[guarded]

    @contextlib.contextmanager
    def _network_errors(self) -> Iterator[None]:
        try:
            yield
        except httpx2.ConnectTimeout:
            raise _Failed(f"could not connect in {self.connect_timeout:g} s") from None
        except httpx2.ReadTimeout:
            raise _Failed(f"no data for {self.read_timeout:g} s (read timeout)") from None
        except httpx2.ConnectError as exc:
            raise _Failed(f"could not connect ({_one_line(str(exc) or type(exc).__name__)})") from None
        except httpx2.HTTPError as exc:
            raise _Failed(f"the connection failed ({_one_line(str(exc) or type(exc).__name__)})") from None

    # -- outputs ---------------------------------------------------------------------------------

    async def download(self, url: str, *, kind: MediaKind, stem: str, guarded: bool = False) -> SavedFile:
        """Stream `url` into the output directory as `<stem><ext>` (or `<stem>-2<ext>`, ...).

        `guarded` for URLs a client gave; media URLs the GLM API returned are fetched unguarded.
        Nothing partial is left behind when it fails or is cancelled.
        """
        if not STEM.fullmatch(stem):
            raise ValueError(f"not a file name stem: {stem!r}")
        shown = _quote(url)
        directory = self.output_dir
        try:
            await anyio.to_thread.run_sync(_make_dirs, directory)
            if not self._swept:
                async with self._sweeping:
                    if not self._swept:
                        await anyio.to_thread.run_sync(_remove_stale_parts, directory)
                        self._swept = True
            async with _temporary(directory, stem) as (temp, out):
                head = b""
                size = 0
                with anyio.move_on_after(self.total_timeout) as scope:
                    async with self._open(url, guarded=guarded, limit=self.max_download_bytes) as response:
                        with self._network_errors():
                            async for chunk in response.aiter_bytes(CHUNK):
                                size += len(chunk)
                                if size > self.max_download_bytes:
                                    limit = _amount(self.max_download_bytes)
                                    raise _Failed(f"it is larger than the {limit} limit")
                                if len(head) < SNIFF_BYTES:
                                    head += chunk[: SNIFF_BYTES - len(head)]
                                await anyio.to_thread.run_sync(out.write, chunk)
                if scope.cancelled_caught:
                    raise _Failed(f"it took longer than {self.total_timeout:g} s")
                await anyio.to_thread.run_sync(out.close)
                # What the API returned must be the media asked for, not, say, an HTML error page.
                mime_type = _expect(kind, head)
                ext = _extension(head)
                with anyio.CancelScope(shield=True):  # once published, the caller must learn its name
                    path = await anyio.to_thread.run_sync(_publish, temp, directory, stem, ext)
        except _Refused as exc:
            raise FileRefused(f"download of {kind} {shown} is refused: {exc}") from None
        except _Failed as exc:
            raise FileRefused(f"download of {kind} {shown} failed: {exc}") from None
        except OSError as exc:
            raise FileRefused(f"cannot write to {directory}: {exc.strerror or exc}") from None
        return SavedFile(path=path, name=path.name, mime_type=mime_type, size=size, source_url=url)

    @staticmethod
    def output_stem(kind: str, task_id: str | None) -> str:
        """A file name stem like `image-20250101-120000-<task id>`; never made from prompt text."""
        when = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        tag = re.sub(r"[^A-Za-z0-9_-]", "", task_id or "")[:40] or secrets.token_hex(4)
        return f"{re.sub(r'[^A-Za-z0-9_-]', '', kind) or 'media'}-{when}-{tag}"


# -- the SSRF guard ------------------------------------------------------------------------------


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
            refusal = _address_refusal(ipaddress.ip_address(address))
            if refusal is not None:
                raise _Refused(f"{host} resolves to {address}, {refusal}")
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
        raise _Refused("Unix sockets are never connected to")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class _GuardedTransport(httpx2.AsyncHTTPTransport):
    """httpx2's own transport, on a connection pool whose every connection goes through the guard."""

    def __init__(self) -> None:
        super().__init__(trust_env=False)
        # httpx2 takes no network backend, so the pool it built (idle: no sockets yet) is replaced by
        # the same pool with one; the rest of the transport (requests, exception mapping) is httpx2's.
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_GuardedNetwork(),
        )


def check_remote_url(ref: str) -> str | None:
    """`ref` if it is an http(s) URL (the scheme in any case, given back in lower case) that may be handed
    to the GLM API for its servers to fetch; None if it is not an http(s) URL. Refused (`FileRefused`)
    when its host is `localhost` or a literal loopback, private, link-local or otherwise non-public
    address: those name this machine's network, or the API's own. Names are not resolved here: the API
    resolves them, from its network."""
    scheme = _scheme(ref)
    if scheme not in ("http", "https"):
        return None
    url = scheme + ref[len(scheme) :]
    try:
        parsed = httpx2.URL(url)
    except (httpx2.InvalidURL, TypeError, ValueError):
        raise FileRefused(f"image URL {_quote(ref)} is refused: it is not a valid URL") from None
    host = parsed.host.rstrip(".").lower()
    if not host:
        raise FileRefused(f"image URL {_quote(ref)} is refused: it names no host")
    if host == "localhost" or host.endswith(".localhost"):
        raise FileRefused(
            f"image URL {_quote(ref)} is refused: {host} is this machine; only public hosts are fetched"
        )
    literal = _literal_address(host)
    if literal is not None and (refusal := _address_refusal(literal)) is not None:
        shown = f"{host} ({literal})" if ":" not in host and str(literal) != host else host
        raise FileRefused(f"image URL {_quote(ref)} is refused: {shown} is {refusal}")
    return url


def _checked_url(url: str, *, guarded: bool) -> httpx2.URL:
    try:
        parsed = httpx2.URL(url)
    except (httpx2.InvalidURL, TypeError, ValueError):
        raise _Refused("it is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise _Refused("only http and https URLs are fetched")
    if guarded:
        if parsed.userinfo:
            raise _Refused("URLs with a user name or password are not fetched")
        # Literal addresses are refused before any connection; names are checked as they connect.
        literal = _literal_address(parsed.host)
        if literal is not None and (refusal := _address_refusal(literal)) is not None:
            numeric = ":" not in parsed.host and str(literal) != parsed.host
            shown = f"{parsed.host} ({literal})" if numeric else parsed.host
            raise _Refused(f"{shown} is {refusal}")
    return parsed


def _refuse_proxied(url: httpx2.URL) -> None:
    """A URL the environment sends through a proxy cannot be checked: the guard checks the address it
    connects to, and through a proxy that is the proxy's."""
    proxy = proxy_for(str(url))
    if proxy is not None:
        raise _Refused(
            f"it cannot be checked: {proxy} would fetch it, and the address check needs a direct "
            f"connection. Give a local file or a data URL instead, or add {url.host} to NO_PROXY"
        )


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # Forms like 2130706433 or 0x7f.1, which resolvers read as IPv4 addresses.
    if re.fullmatch(r"[0-9A-Fa-fXx.]+", host):
        with contextlib.suppress(OSError):
            return ipaddress.IPv4Address(socket.inet_aton(host))
    return None


def _address_refusal(ip: IPAddress) -> str | None:
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


# -- local files ---------------------------------------------------------------------------------


def _scheme(ref: str) -> str | None:
    found = SCHEME.match(ref)
    return found.group(1).lower() if found else None


def _file_url_path(ref: str) -> str:
    parts = urlsplit(ref)
    if parts.netloc not in ("", "localhost"):
        raise _Refused("a file URL must name a local file (file:///path)")
    if parts.query or parts.fragment:
        raise _Refused("a file URL with a query or fragment is not read")
    return unquote(parts.path)


def _check_path_text(text: str) -> None:
    if "\0" in text:
        raise _Refused("the path contains a NUL byte")
    if len(text) > MAX_PATH:
        raise _Refused(f"the path is longer than {MAX_PATH} characters")
    if any(len(part) > MAX_NAME for part in text.split("/")):
        raise _Refused(f"a path component is longer than {MAX_NAME} characters")


def _deepest_root(path: Path, roots: Iterable[Path]) -> Path | None:
    inside = [root for root in roots if path.is_relative_to(root)]
    return max(inside, key=lambda root: len(root.parts)) if inside else None


def _file_type(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"


# No following a link and no waiting on a pipe, should the file have been swapped since the check.
FILE_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
# O_PATH (Linux) opens a directory to walk through it with search permission alone.
DIR_FLAGS = (
    (getattr(os, "O_PATH", 0) or os.O_RDONLY)
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)

OPENAT = os.open in os.supports_dir_fd  # not on Windows


def _open_below(root: Path, real: Path) -> int:
    """A descriptor of `real`, a file below `root`, opened one component at a time from `root`, never
    following a link: a directory swapped for a symlink after the check makes it fail (ELOOP or
    ENOTDIR) rather than lead outside."""
    if not OPENAT:
        return _open_verified(root, real)
    *directories, name = real.relative_to(root).parts
    parent = os.open(root, DIR_FLAGS)
    try:
        for part in directories:
            child = os.open(part, DIR_FLAGS, dir_fd=parent)
            os.close(parent)
            parent = child
        return os.open(name, FILE_FLAGS, dir_fd=parent)
    finally:
        os.close(parent)


def _open_verified(root: Path, real: Path) -> int:
    """Where descriptors cannot anchor a walk: `real` opened by name, then kept only if the opened file
    is still `real` (its path as the system tells it, or failing that, the same file found there)."""
    fd = os.open(real, FILE_FLAGS)
    try:
        where = _descriptor_path(fd)
        if where is not None:
            same = where == real and where.is_relative_to(root)
        else:
            same = Path(os.path.realpath(real)) == real and os.path.samestat(os.fstat(fd), os.stat(real))
    except OSError:
        same = False
    if not same:
        os.close(fd)
        raise OSError(errno.ELOOP, "the file moved while it was opened")
    return fd


def _descriptor_path(fd: int) -> Path | None:
    """The real path of an open file, where the system tells it (Linux /proc, macOS F_GETPATH)."""
    with contextlib.suppress(OSError):
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    try:
        import fcntl
    except ImportError:
        return None
    getpath = getattr(fcntl, "F_GETPATH", None)
    if getpath is None:
        return None
    with contextlib.suppress(OSError):
        return Path(os.fsdecode(fcntl.fcntl(fd, getpath, bytes(1024)).rstrip(b"\0")))
    return None


def _decode_data_url(ref: str, limit: int) -> bytes:
    header, comma, payload = ref[len("data:") :].partition(",")
    if not comma or not header.lower().endswith(";base64"):
        raise _Refused("only base64 data URLs (data:<type>;base64,...) are read")
    payload = payload.strip()
    if len(payload) * 3 // 4 > limit:
        raise _Refused(
            f"it holds about {_amount(len(payload) * 3 // 4)}, more than the {_amount(limit)} limit"
        )
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _Refused("its base64 payload is invalid") from None
    if len(data) > limit:
        raise _Refused(f"it holds {_amount(len(data))}, more than the {_amount(limit)} limit")
    return data


# -- sniffing ------------------------------------------------------------------------------------


def sniff(data: bytes) -> tuple[MediaKind, str] | None:
    """(kind, extension) of media recognised by its first bytes, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", ".png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image", ".jpg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image", ".gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image", ".webp"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio", ".wav"
    if data.startswith(b"ID3") or formats.mpeg_frame(data[:4]) is not None:
        return "audio", ".mp3"
    if data[4:8] == b"ftyp":
        return "video", ".mov" if data[8:12] == b"qt  " else ".mp4"
    if data[4:8] in QUICKTIME_ATOMS:
        return "video", ".mov"
    return None


def _expect(kind: MediaKind, data: bytes) -> str:
    """The MIME type of `data` if it is media of `kind`, else a refusal saying what it looks like."""
    if not data:
        raise _Refused("it is empty")
    found = sniff(data)
    if found is not None and found[0] == kind:
        return FORMATS[found[1]][0]
    looks = f"it is {FORMATS[found[1]][1]}" if found else f"{_looks_like(data)}it is not {ACCEPTED[kind]}"
    raise _Refused(f"it is not {NOUNS[kind]} ({looks})")


def _whole(kind: MediaKind, file: BinaryIO, size: int, head: bytes) -> str:
    """The MIME type of the `size` bytes in `file`, which start with `head`, if they are whole media of
    `kind` (its structure walked to the end, not only its first bytes), else a refusal."""
    mime_type = _expect(kind, head)
    ext = _extension(head)
    try:
        formats.check(ext, file, size)
    except formats.Damaged as exc:
        raise _Refused(f"it starts like {FORMATS[ext][1]} but is not one: {exc}") from None
    return mime_type


def _looks_like(data: bytes) -> str:
    head = data[:512]
    if head.startswith(b"%PDF-"):
        return "it looks like a PDF; "
    if head.startswith(b"PK\x03\x04"):
        return "it looks like a ZIP archive; "
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head)  # tolerates a cut last character
    except UnicodeDecodeError:
        return ""
    if not all(char.isprintable() or char in "\t\r\n\f" for char in text):
        return ""
    return "it looks like HTML; " if re.search(r"<(!doctype|html)", text, re.I) else "it looks like text; "


# -- writing -------------------------------------------------------------------------------------


def _make_dirs(directory: Path) -> None:
    """Create `directory` and its missing parents, each private to the user (0o700)."""
    missing: list[Path] = []
    path = directory
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
    if not directory.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(directory))


@asynccontextmanager
async def _temporary(directory: Path, stem: str) -> AsyncIterator[tuple[Path, IO[bytes]]]:
    """A new hidden `.part` file in `directory`, closed and removed on the way out."""
    with anyio.CancelScope(shield=True):  # so that no temporary file is ever created unseen
        temp, out = await anyio.to_thread.run_sync(_create_temp, directory, stem)
    try:
        yield temp, out
    finally:
        # Plain system calls, so that they run even while the task is being cancelled.
        with contextlib.suppress(OSError):
            out.close()
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _create_temp(directory: Path, stem: str) -> tuple[Path, IO[bytes]]:
    temp = directory / f".{stem}-{secrets.token_hex(4)}.part"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(temp, flags, 0o600)
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held until closed: the download is alive
    return temp, os.fdopen(fd, "wb")


def _remove_stale_parts(directory: Path) -> None:
    """Remove the `.part` files that downloads killed mid-way left (kill -9, a crash): those no live
    download holds locked, whichever process it runs in."""
    try:
        entries = [entry for entry in os.scandir(directory) if entry.name.startswith(".")]
    except OSError:
        return
    for entry in entries:
        if not entry.name.endswith(".part") or not entry.is_file(follow_symlinks=False):
            continue
        with contextlib.suppress(OSError):
            if fcntl is None:
                if time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_PART_SECONDS:
                    os.unlink(entry.path)
                continue
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a download in progress
            finally:
                os.close(fd)
            os.unlink(entry.path)
            log.info("Removed %s, left by a download that did not finish", entry.path)


def _publish(temp: Path, directory: Path, stem: str, ext: str) -> Path:
    """Give the finished temporary file its final name, never replacing an existing file."""
    for final in _names(directory, stem, ext):
        try:
            os.link(temp, final)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in NO_HARD_LINKS:
                raise
            return _publish_by_rename(temp, directory, stem, ext)
        temp.unlink()
        return final
    raise FileExistsError(errno.EEXIST, f"too many files named {stem}-N{ext}")


def _publish_by_rename(temp: Path, directory: Path, stem: str, ext: str) -> Path:
    for final in _names(directory, stem, ext):
        try:
            os.close(os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        # The name is ours now (created exclusively), so the rename replaces nobody else's file.
        os.replace(temp, final)
        return final
    raise FileExistsError(errno.EEXIST, f"too many files named {stem}-N{ext}")


def _names(directory: Path, stem: str, ext: str) -> Iterator[Path]:
    yield directory / f"{stem}{ext}"
    for number in range(2, 10_000):
        yield directory / f"{stem}-{number}{ext}"


def _extension(head: bytes) -> str:
    found = sniff(head)
    assert found is not None  # only called on bytes `_expect` accepted
    return found[1]


# -- messages ------------------------------------------------------------------------------------


def _quote(text: str) -> str:
    """A reference quoted on one line (control characters escaped), shortened when long."""
    if len(text) > 200:
        text = f"{text[:120]}…{text[-60:]}"
    quoted = json.dumps(text, ensure_ascii=False)
    # Also escape what JSON leaves as is but a reader must not see raw: bidi overrides, line separators.
    return "".join(char if char.isprintable() else f"\\u{ord(char):04x}" for char in quoted)


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 200 else flat[:199] + "…"


def _amount(size: int) -> str:
    for unit, scale in (("GiB", 1024 * MB), ("MiB", MB), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"
