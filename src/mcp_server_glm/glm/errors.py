"""The mapping from the GLM API's answers to errors: business codes first, then HTTP status.

The error classes themselves, and the tree they form, are in `mcp_server_glm.errors`; here are the codes
each kind stands for, what to do about each code (`HINTS`), `classify`, and the functions that turn a
response or a transport failure into its error.
"""

from __future__ import annotations

import email.utils
import re
import time
from typing import TYPE_CHECKING, Any

from ..errors import (
    APIError,
    AuthenticationFailed,
    BadResponse,
    ConnectionFailed,
    ContentFiltered,
    InvalidRequest,
    QuotaExhausted,
    RateLimited,
    SearchUnavailable,
    ServerFailed,
    one_line,
)

if TYPE_CHECKING:  # httpx2 is imported where a transport failure is mapped: reading errors needs none
    import httpx2

    from .proxies import Proxy
    from .redact import Redactor

RETRYABLE_CODES = frozenset({"1302", "1303", "1305", "1312", "1701"})
# The Web Search API's own failures: no engine could take the search, or the one that did found nothing.
SEARCH_CODES = frozenset({"1702", "1703"})
NO_SEARCH_DATA = "1703"
QUOTA_CODES = frozenset(
    {"1110", "1111", "1112", "1113", "1121", "1304", "1308", "1309", "1310", "1311", "1313"}
)
AUTH_CODES = frozenset({"1000", "1001", "1002", "1003", "1004"})

HINTS: dict[str, str] = {
    "1113": "the account has no balance or resource package: top it up, or use a key that belongs to "
    "this endpoint (a Coding Plan key works only on the coding endpoint)",
    "1110": "the account is not active: check it in the platform console",
    "1111": "the account does not exist: check the API key",
    "1112": "the account is locked: check it in the platform console",
    "1121": "the account is locked for irregular activity: contact the platform",
    "1304": "the daily call limit of this key is reached: it resets at midnight",
    "1308": "the plan's usage limit is reached: wait until it resets",
    "1309": "the GLM Coding Plan has expired: renew it, or use a pay-as-you-go key",
    "1310": "the plan's weekly or monthly limit is used up: wait until it resets",
    "1311": "the plan does not include this model: choose a model the plan covers",
    "1313": "requests are restricted under the fair-use policy: slow down and try again later",
    "1302": "too many concurrent requests on this account: wait a little or lower concurrency",
    "1303": "requests are too frequent: wait a little and try again",
    "1305": "the platform is overloaded: try again shortly",
    "1312": "the model is under high traffic: try again shortly or use another model",
    "1301": "the platform's content filter blocked the input or output: rephrase the request",
    "1211": "the model name is unknown on this platform: check the model code",
    "1261": "the prompt is longer than the model accepts: shorten it",
    "1210": "the API refused a parameter: check the arguments",
    "1213": "a required parameter is missing",
    "1214": "the API refused a parameter value: check the arguments",
    "1220": "this key has no permission for this API",
    "1231": "the request id was already used",
    "1701": "too many concurrent web searches on this account: wait a little or search less at once",
    "1702": "no search engine is available for this search now: try another engine, or again later",
    "1703": "the search engine returned no data: broaden or rephrase the query",
}


def classify(status: int, code: str | None) -> type[APIError]:
    """The error kind for an HTTP status and business code; the code decides where it is known."""
    if code == "1301":
        return ContentFiltered
    if code in AUTH_CODES or status == 401:
        return AuthenticationFailed
    if code in QUOTA_CODES:
        return QuotaExhausted
    if code in SEARCH_CODES:
        return SearchUnavailable
    if code in RETRYABLE_CODES or status == 429:
        # A 429 without a known code is treated as busy, as the platform's own SDKs do.
        return RateLimited
    if status >= 500 or status == 408 or code in {"1230", "1234", "500"}:
        return ServerFailed
    return InvalidRequest


# -- from a response or a transport failure to an error --------------------------------------------
# `endpoint` is the base URL messages name, `redact` hides the key from everything read upstream.


def read_json(
    response: httpx2.Response,
    request_id: str,
    redact: Redactor,
    endpoint: str,
    *,
    error_key_fails: bool = True,
) -> dict[str, Any]:
    """A successful response's body as a JSON object (redacted); any other body is a BadResponse, and an
    error envelope (which some failures send with HTTP 200) its APIError, unless `error_key_fails` is
    False (a failed task's `error` is data)."""
    status = response.status_code
    if not response.content:
        raise BadResponse(
            f"GLM API returned an empty body (HTTP {status})", status=status, request_id=request_id
        )
    try:
        data = redact.scrub(response.json())
    except ValueError:
        raise BadResponse(
            f"GLM API returned a body that is not JSON (HTTP {status}, {_describe_body(response)})",
            status=status,
            request_id=request_id,
        ) from None
    if not isinstance(data, dict):
        raise BadResponse(
            f"GLM API returned JSON that is not an object (HTTP {status})",
            status=status,
            request_id=request_id,
        )
    if error_key_fails and isinstance(data.get("error"), dict):
        raise envelope_error(status, data, request_id, redact, endpoint, retry_after=None)
    return data


def api_error(response: httpx2.Response, request_id: str, redact: Redactor, endpoint: str) -> APIError:
    """The error an HTTP error response stands for, by its envelope's business code when it has one."""
    retry_after = _retry_after_seconds(response.headers.get("retry-after"))
    try:
        data = redact.scrub(response.json())
    except ValueError:
        data = None
    if isinstance(data, dict) and (isinstance(data.get("error"), dict) or "code" in data):
        return envelope_error(
            response.status_code, data, request_id, redact, endpoint, retry_after=retry_after
        )
    error_type = classify(response.status_code, None)
    return error_type(
        status=response.status_code,
        code=None,
        message=f"the API answered with {_describe_body(response)} instead of an error envelope",
        request_id=request_id,
        retry_after=retry_after,
    )


def envelope_error(
    status: int,
    data: dict[str, Any],
    request_id: str,
    redact: Redactor,
    endpoint: str,
    *,
    retry_after: float | None,
) -> APIError:
    """The error an error envelope stands for (`data` already scrubbed)."""
    # The documented form is {"error": {"code": "1113", "message": ...}}; the OpenAPI spec has the
    # fields at top level, and some codes arrive as numbers.
    envelope = data["error"] if isinstance(data.get("error"), dict) else data
    code = _code(envelope.get("code"))
    message = redact(str(envelope.get("message") or ""))
    error_type = classify(status, code)
    hint = _quota_hint(code, message) or HINTS.get(code or "")
    if error_type is AuthenticationFailed:
        hint = (
            f"the API key was refused by {endpoint}: a key works only on its own platform "
            "(api.z.ai or open.bigmodel.cn) and endpoint (general or Coding Plan)"
        )
    return error_type(
        status=status,
        code=code,
        message=message,
        request_id=request_id,
        retry_after=retry_after,
        hint=hint,
    )


# "Usage limit reached for 5 hour", "Your limit will reset at 2026-03-06 22:19:54", "reset at midnight UTC"
_WINDOW = re.compile(r"\bfor ([0-9]+) ?(hour|day|week|month)s?\b", re.I)
_RESET = re.compile(
    r"\breset(?:s)? at ([0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2})?(?: ?UTC)?"
    r"|midnight(?: UTC)?)",
    re.I,
)


def _quota_hint(code: str | None, message: str) -> str | None:
    """For a quota that ran out (1113, 1304, 1308, 1310): which one, and when it resets where the
    message says (glm-api.md §17.3: 1308 and 1310 carry the reset time, 1304 resets at midnight)."""
    if code not in ("1304", "1308", "1310"):
        return None
    found = _RESET.search(message)
    when = f"it resets at {found.group(1)}" if found else None
    if code == "1304":
        return f"the daily call limit of this key is reached: {when or 'it resets at midnight'}"
    if code == "1310":
        return (
            f"the plan's weekly or monthly limit is used up: {when or 'wait until it resets'}"
            ", or use a pay-as-you-go key"
        )
    window = _WINDOW.search(message)
    named = f" for its {window.group(1)}-{window.group(2).lower()} window" if window else ""
    return (
        f"the plan's usage limit{named} is reached: {when or 'wait until the window resets'}"
        ", or use a pay-as-you-go key"
    )


def connection_failed(
    exc: httpx2.TransportError,
    request_id: str,
    redact: Redactor,
    endpoint: str,
    *,
    proxy: Proxy | None,
    timeout: float,
) -> ConnectionFailed:
    """The error a transport failure stands for; `proxy` is the one the environment names, if any."""
    import httpx2

    # A proxy's refusal comes in answer to CONNECT, before the request itself is sent.
    never_sent = httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.PoolTimeout | httpx2.ProxyError
    reached = not isinstance(exc, never_sent)
    via = f" through {proxy}" if proxy is not None else ""
    named = str(proxy) if proxy is not None else "any proxy setting (HTTPS_PROXY)"
    check = f"Check ZAI_BASE_URL, the network and {named}, or run `mcp-server-glm doctor`"
    # Only at connect time: TLS errors later (an EOF mid-answer) are dropped connections.
    tls = _tls_failure(exc) if isinstance(exc, httpx2.ConnectError) else None
    if tls is not None:
        failure = ConnectionFailed(
            f"{tls} connecting to {endpoint}{via}; not retried. {_TLS_ADVICE}",
            request_id=request_id,
            reached=False,
        )
        failure.retryable = False  # a certificate does not fix itself between retries
        return failure
    text = redact(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx2.ReadTimeout):
        what = f"no data from the GLM API for {timeout:g} s (read timeout)"
    elif isinstance(exc, httpx2.ConnectTimeout):
        what = f"could not connect to {endpoint}{via} in time (connect timeout). {check}"
    elif isinstance(exc, httpx2.ProxyError):
        what = (
            f"{proxy or 'the proxy'} refused the connection to {endpoint}: "
            f"{text}. Check the proxy and its credentials, or exempt the host in NO_PROXY"
        )
    elif isinstance(exc, httpx2.ConnectError):
        what = f"could not connect to {endpoint}{via}: {_os_reason(exc) or text}. {check}"
    else:
        what = f"the connection to the GLM API failed: {text}"
    return ConnectionFailed(what, request_id=request_id, reached=reached)


_TLS_ADVICE = (
    "Check that ZAI_BASE_URL names the API's own host and scheme and that the system clock is right; "
    "behind a TLS-inspecting proxy or a private CA, set SSL_CERT_FILE to its CA bundle"
)


def _tls_failure(exc: BaseException) -> str | None:
    """What failed in a TLS handshake ("the TLS certificate was refused (self-signed certificate)"), or
    None when the failure was not TLS."""
    import ssl

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            reason = seen.verify_message or seen.reason or "not trusted"
            return f"the server's TLS certificate was refused ({reason})"
        if isinstance(seen, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            return None  # the peer went away mid-handshake: worth retrying like any dropped connection
        if isinstance(seen, ssl.SSLError):
            return f"the TLS handshake failed ({seen.reason or seen})"
        seen = seen.__cause__ or seen.__context__
    return None


def _os_reason(exc: BaseException) -> str | None:
    """The system's reason under a connect error ("connection refused: nothing listens there"), which
    httpx words as "All connection attempts failed"."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused: nothing listens there"
        if isinstance(seen, OSError) and seen.strerror:
            return str(seen.strerror).lower()
        seen = seen.__cause__ or seen.__context__
    return None


def _code(value: object) -> str | None:
    """A business code as text: a number or a short string; anything else is no code."""
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        return None
    return one_line(str(value), limit=40)


def _describe_body(response: httpx2.Response) -> str:
    content_type = response.headers.get("content-type", "").partition(";")[0].strip() or "no content type"
    kind = "an HTML page" if "html" in content_type else f"a body of type {content_type}"
    return f"{kind} of {len(response.content)} bytes"


def _retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header, given as seconds or as an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
