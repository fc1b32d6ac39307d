"""OAuth 2.1 sign-in for the HTTP transports: this server as a resource server that accepts the JWT
access tokens of one authorization server (GLM_AUTH_ISSUER), checked against its published keys.

`OAuthGate` (ASGI) serves the Protected Resource Metadata (RFC 9728), refuses a request without a
valid token with 401 and `WWW-Authenticate: Bearer resource_metadata=...`, and leaves the token's
`identity.Caller` on the request. `ToolScopes` (inside the body limit) reads a tools/call's body and
answers 403 `insufficient_scope` for a tool the token has no scope for, and 429 past the per-user
rate limit. The token itself is never kept, logged, nor sent anywhere (the GLM API gets our key).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2
import jwt
from jwt import PyJWK, PyJWKSet
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.authentication import AuthCredentials
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import identity
from .errors import ConfigError
from .identity import SCOPE_KEY, Caller
from .responses import json_rpc_error, send_json
from .settings import Settings

log = logging.getLogger(__name__)

# Asymmetric signatures only: `none` and the HMAC family (which would take the public key as a shared
# secret) are refused before any key is looked at.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
FAMILIES = {"RSA": ("RS", "PS"), "EC": ("ES",), "OKP": ("EdDSA",)}  # JWK kty: its algorithms
LEEWAY = 60  # seconds of clock skew allowed on exp, nbf and iat
KEYS_REFRESH_SECONDS = 60.0  # an unknown kid refetches the keys at most this often
FETCH_TIMEOUT = 10.0
MAX_DOCUMENT_BYTES = 1 << 20
PRM_PATH = "/.well-known/oauth-protected-resource"


class TokenRefused(Exception):
    """Why a token is not accepted: one line for `error_description` (never the token)."""


class KeysUnavailable(Exception):
    """The issuer's metadata or keys could not be fetched: one line for the operator and the client."""


def canonical_url(settings: Settings) -> str:
    """This server's resource URL (RFC 8707/9728): GLM_PUBLIC_URL (or http://host:port) + the
    transport's path, lower-case scheme and host, no trailing slash."""
    path = "/sse" if settings.transport == "sse" else "/mcp"
    if settings.public_url:
        parts = urlsplit(settings.public_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                "GLM_PUBLIC_URL must be an http(s) URL such as https://glm.example.com, "
                f"not {settings.public_url!r}"
            )
        base = f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"
    else:
        host = settings.host if ":" not in settings.host else f"[{settings.host}]"
        base = f"http://{host}:{settings.port}"
    return base + path


def metadata_url(resource: str) -> str:
    """The PRM document's URL for `resource` (RFC 9728 §3.1: the well-known path before the path)."""
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}{PRM_PATH}{parts.path}"


@dataclass
class Policy:
    """What the gate and the scope check need, made from the settings at start."""

    issuer: str
    resource: str
    audiences: list[str]
    jwks_url: str | None
    read_scope: str
    generate_scope: str
    admin_scope: str
    rate_limit: int | None
    tool_scopes: dict[str, str] = field(default_factory=dict)
    # Streamable HTTP answers a refused tools/call with its HTTP status (ToolScopes); over SSE the
    # POST's status never reaches the caller's JSON-RPC request, so there the call boundary refuses.
    over_http: bool = True
    limiter: UserRateLimit = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = UserRateLimit(self.rate_limit)

    @property
    def metadata_url(self) -> str:
        return metadata_url(self.resource)

    def metadata(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "authorization_servers": [self.issuer],
            "scopes_supported": [self.read_scope, self.generate_scope, self.admin_scope],
            "bearer_methods_supported": ["header"],
            "resource_name": "mcp-server-glm",
        }

    def scope_for(self, tool: str) -> str:
        return self.tool_scopes.get(tool, self.read_scope)


def policy(settings: Settings, read_only: Mapping[str, bool]) -> Policy | None:
    """The sign-in policy GLM_AUTH_ISSUER asks for (None: no sign-in); `read_only`: each tool's
    read_only_hint, which decides whether it needs the read or the generate scope."""
    if settings.auth_issuer is None:
        return None
    if settings.auth_token is not None:
        raise ConfigError(
            "GLM_AUTH_ISSUER and GLM_MCP_AUTH_TOKEN are both set: use OAuth sign-in or the static token, "
            "not both (unset one)"
        )
    if settings.transport == "stdio":
        raise ConfigError(
            "GLM_AUTH_ISSUER is for the HTTP transports: start with --transport streamable-http"
        )
    issuer = settings.auth_issuer.strip()
    if urlsplit(issuer).scheme not in ("http", "https"):
        raise ConfigError(f"GLM_AUTH_ISSUER must be the issuer's http(s) URL, not {issuer!r}")
    resource = canonical_url(settings)
    audience = (settings.auth_audience or resource).strip()
    return Policy(
        issuer=issuer,
        resource=resource,
        audiences=[audience, audience.rstrip("/") + "/"],
        jwks_url=settings.auth_jwks_url,
        read_scope=settings.auth_read_scope,
        generate_scope=settings.auth_generate_scope,
        admin_scope=settings.auth_admin_scope,
        rate_limit=settings.user_rate_limit,
        over_http=settings.transport != "sse",
        tool_scopes={
            name: settings.auth_read_scope if ro else settings.auth_generate_scope
            for name, ro in read_only.items()
        },
    )


class UserRateLimit:
    """Tool calls per user per minute (a sliding window); `limit` None: no limit."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._calls: dict[str, deque[float]] = {}

    def refusal(self, user: str) -> tuple[str, int] | None:
        """None while `user` is within the limit (the call is counted); else the one line and the
        seconds until a call is allowed again."""
        if self.limit is None:
            return None
        now = time.monotonic()
        window = self._calls.setdefault(user, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self.limit:
            wait = max(1, math.ceil(window[0] + 60 - now))
            line = (
                f"Too many calls: at most {self.limit} tool calls a minute per user "
                f"(GLM_USER_RATE_LIMIT); retry in {wait} s"
            )
            return line, wait
        window.append(now)
        return None


class Keys:
    """The issuer's signing keys: found through its metadata (RFC 8414, then OpenID Connect discovery)
    unless GLM_AUTH_JWKS_URL names them, fetched on first use, refetched for an unknown kid at most
    once per KEYS_REFRESH_SECONDS."""

    def __init__(self, issuer: str, jwks_url: str | None, client: httpx2.AsyncClient | None = None) -> None:
        self.issuer = issuer
        self.jwks_url = jwks_url
        self._client = client
        self._keys: dict[str | None, PyJWK] = {}
        self._fetched_at = -math.inf
        self._lock = anyio.Lock()

    async def key(self, kid: str | None) -> PyJWK:
        found = self._find(kid)
        if found is not None:
            return found
        async with self._lock:
            found = self._find(kid)
            if found is None and time.monotonic() - self._fetched_at >= KEYS_REFRESH_SECONDS:
                await self._refresh()
                found = self._find(kid)
        if found is None:
            raise TokenRefused("the token's signing key is not among the issuer's keys")
        return found

    def _find(self, kid: str | None) -> PyJWK | None:
        if kid is None:  # a token without kid: only when the issuer has one key
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        self._fetched_at = time.monotonic()
        url = self.jwks_url or await self._discover()
        document = await self._get(url, "signing keys")
        try:
            found = PyJWKSet.from_dict(document)
        except jwt.PyJWTError as exc:
            raise KeysUnavailable(f"the issuer's signing keys at {url} are unusable: {exc}") from None
        self._keys = {key.key_id: key for key in found.keys}
        self.jwks_url = url

    async def _discover(self) -> str:
        parts = urlsplit(self.issuer)
        origin, path = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
        candidates = [
            f"{origin}/.well-known/oauth-authorization-server{path}",
            f"{origin}{path}/.well-known/openid-configuration",
        ]
        problems: list[str] = []
        for url in candidates:
            try:
                document = await self._get(url, "metadata")
            except KeysUnavailable as exc:
                problems.append(str(exc))
                continue
            if str(document.get("issuer", "")).rstrip("/") != self.issuer.rstrip("/"):
                problems.append(f"{url} names another issuer")
                continue
            if isinstance(document.get("jwks_uri"), str):
                return str(document["jwks_uri"])
            problems.append(f"{url} has no jwks_uri")
        raise KeysUnavailable("; ".join(problems) + " (set GLM_AUTH_JWKS_URL)")

    async def _get(self, url: str, what: str) -> dict[str, Any]:
        client = self._client or httpx2.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=False)
        try:
            response = await client.get(url, headers={"accept": "application/json"})
        except httpx2.HTTPError as exc:
            raise KeysUnavailable(
                f"cannot fetch the issuer's {what} at {url}: {type(exc).__name__}"
            ) from None
        finally:
            if self._client is None:
                await client.aclose()
        if response.status_code != 200 or len(response.content) > MAX_DOCUMENT_BYTES:
            raise KeysUnavailable(f"the issuer's {what} at {url} answered HTTP {response.status_code}")
        try:
            document = response.json()
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise KeysUnavailable(f"the issuer's {what} at {url} is not a JSON object")
        return document


class Verifier:
    """Checks a bearer JWT: allowed algorithm, signature by the issuer's key, iss, aud, exp, nbf, sub."""

    def __init__(self, rules: Policy, keys: Keys | None = None) -> None:
        self.rules = rules
        self.keys = keys or Keys(rules.issuer, rules.jwks_url)

    async def verify(self, token: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRefused("the token is not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise TokenRefused(f"tokens signed with {str(algorithm)[:16]!r} are not accepted")
        kid = header.get("kid")
        key = await self.keys.key(kid if isinstance(kid, str) else None)
        verifying: PyJWK | Any = key
        if "alg" not in key._jwk_data:  # a key that names no algorithm: any of its family
            if not algorithm.startswith(FAMILIES.get(str(key.key_type), ("-",))):
                raise TokenRefused("the token's algorithm does not fit its signing key")
            verifying = key.key
        try:
            claims = jwt.decode(
                token,
                key=verifying,
                algorithms=[algorithm],
                audience=self.rules.audiences,
                issuer=self.rules.issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefused("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenRefused("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused(
                f"the token is not for this server (audience {self.rules.audiences[0]})"
            ) from None
        except jwt.InvalidIssuerError:
            raise TokenRefused("the token is from another issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRefused(f"the token has no {exc.claim} claim") from None
        except jwt.InvalidSignatureError:
            raise TokenRefused("the token's signature does not verify") from None
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise TokenRefused(f"the token is invalid ({type(exc).__name__})") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise TokenRefused("the token's sub claim is empty")
        scopes = _scopes(claims)
        return Caller(user=subject, scopes=scopes, admin=self.rules.admin_scope in scopes)


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """The token's scopes: RFC 9068 `scope` (space-separated), or `scp` (a list or a string)."""
    value = claims.get("scope", claims.get("scp", ""))
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(item for item in value if isinstance(item, str))
    return frozenset()


def _challenge(
    rules: Policy, error: str | None = None, description: str | None = None, scope: str | None = None
) -> bytes:
    parts = []
    if error is not None:
        parts.append(f'error="{error}"')
    if description is not None:
        parts.append('error_description="{}"'.format(description.replace('"', "'")))
    if scope is not None:
        parts.append(f'scope="{scope}"')
    parts.append(f'resource_metadata="{rules.metadata_url}"')
    return ("Bearer " + ", ".join(parts)).encode()


async def _refuse(
    send: Send, status: int, message: str, headers: Sequence[tuple[bytes, bytes]], request_id: Any = None
) -> None:
    code = -32001 if status < 500 else -32000
    await json_rpc_error(send, status, code, message, headers, request_id)


class OAuthGate:
    """ASGI middleware: serves the PRM documents, lets lifespan and `public` paths through, and
    requires a valid bearer JWT on everything else."""

    def __init__(self, app: ASGIApp, verifier: Verifier, public: Sequence[str] = ()) -> None:
        self.app = app
        self.verifier = verifier
        self.rules = verifier.rules
        self.public = set(public)
        self.documents = {PRM_PATH, urlsplit(self.rules.metadata_url).path}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan" or (kind == "http" and scope["path"] in self.public):
            await self.app(scope, receive, send)
            return
        if kind != "http":
            await send({"type": "websocket.close", "code": 1008, "reason": "Unauthorized"})
            return
        if scope["path"] in self.documents and scope["method"] in ("GET", "HEAD"):
            await self._metadata(send)
            return
        given = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
        scheme, _, token = given.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            message = (
                f"Unauthorized: sign in with {self.rules.issuer} and send its access token as a Bearer token"
            )
            await _refuse(send, 401, message, [(b"www-authenticate", _challenge(self.rules))])
            return
        try:
            caller = await self.verifier.verify(token.strip())
        except TokenRefused as exc:
            challenge = _challenge(self.rules, "invalid_token", str(exc))
            await _refuse(
                send, 401, f"Unauthorized: {exc}; sign in again", [(b"www-authenticate", challenge)]
            )
            return
        except KeysUnavailable as exc:
            log.warning("Sign-in unavailable: %s", exc)
            await _refuse(send, 503, f"Sign-in unavailable: {exc}; retry later", [(b"retry-after", b"30")])
            return
        # The SDK ties a session to the principal that opened it (client, issuer, subject).
        access = AccessToken(
            token="",  # the token itself is not kept
            client_id=caller.user,
            scopes=sorted(caller.scopes),
            resource=self.rules.resource,
            subject=caller.user,
            claims={"iss": self.rules.issuer},
        )
        user = AuthenticatedUser(access)
        scope = {**scope, SCOPE_KEY: caller, "user": user, "auth": AuthCredentials(access.scopes)}
        # Also as context: a session's handlers (tasks/*, completions) run in the context of the request
        # that opened it, whose principal the SDK holds every later request of the session to.
        reset = auth_context_var.set(user)
        acting = identity.CALLER.set(caller)
        try:
            await self.app(scope, receive, send)
        finally:
            identity.CALLER.reset(acting)
            auth_context_var.reset(reset)

    async def _metadata(self, send: Send) -> None:
        await send_json(send, 200, self.rules.metadata(), [(b"access-control-allow-origin", b"*")])


class ToolScopes:
    """ASGI middleware (behind the gate and the body limit): a tools/call POST whose token lacks the
    tool's scope gets 403 `insufficient_scope`; past GLM_USER_RATE_LIMIT tool calls in a minute, 429."""

    def __init__(self, app: ASGIApp, rules: Policy) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        caller = scope.get(SCOPE_KEY)
        if scope["type"] != "http" or scope["method"] != "POST" or not isinstance(caller, Caller):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        for call in _tool_calls(body):
            needed = self.rules.scope_for(call[1])
            if needed not in caller.scopes:
                line = (
                    f"Forbidden: {call[1]} needs the scope {needed}, which this token lacks; "
                    "sign in again asking for it"
                )
                challenge = _challenge(self.rules, "insufficient_scope", f"{call[1]} needs {needed}", needed)
                await _refuse(send, 403, line, [(b"www-authenticate", challenge)], call[0])
                return
            limited = self.rules.limiter.refusal(caller.user)
            if limited is not None:
                line, wait = limited
                await _refuse(send, 429, line, [(b"retry-after", str(wait).encode())], call[0])
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _tool_calls(body: bytes) -> list[tuple[Any, str]]:
    """(id, tool name) of each tools/call in a JSON-RPC body (one message or a batch)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return []
    messages = parsed if isinstance(parsed, list) else [parsed]
    found = []
    for message in messages:
        if isinstance(message, dict) and message.get("method") == "tools/call":
            params = message.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            found.append((message.get("id"), name if isinstance(name, str) else ""))
    return found
